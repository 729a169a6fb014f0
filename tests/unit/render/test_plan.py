"""build_plan: decrypt once, select values, render templates, resolve owners; all problems at once."""

from __future__ import annotations

import json
import shutil
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from secretsctl.config.load import parse_config
from secretsctl.config.model import Manifest
from secretsctl.config.sopsnix import parse_manifest
from secretsctl.errors import ExitCode, ProblemsError, SecretsctlError
from secretsctl.render.model import ItemKind, RenderPlan
from secretsctl.render.plan import build_plan
from secretsctl.sops import codec
from secretsctl.sops.stores import Format
from tests.conftest import SOPS_NIX_VECTORS, AgeKey
from tests.pgp_support import (  # noqa: F401 - a fixture
    VECTOR_KEY_ASC,
    VECTOR_PGP,
    VECTOR_SSH_PGP,
    VECTOR_SSH_RSA,
    GnupgHome,
    gnupg_home,
    require_gpg,
)
from tests.unit.render.conftest import Encryptor, FakeAccounts

PLACEHOLDER = "<SOPS:92488e1e3eeecdf99f3ed2ce59233efb4b4fb612d5655c0ce9ea52b5a502e655:PLACEHOLDER>"
NESTED_PLACEHOLDER = "<SOPS:0f0e6f4c5d1c3b2a19080706050403020100f0e0d0c0b0a09080706050403021:PLACEHOLDER>"
VALUES = ("test_value", "another value", "e1", "e3")


def config(tmp_path: Path, text: str) -> Manifest:
    return parse_config(textwrap.dedent(text), str(tmp_path / "secretsctl.yaml"))


def contents(plan: RenderPlan) -> dict[str, bytes]:
    return {item.relative_path: item.content.reveal() for item in plan.files}


def problems(excinfo: pytest.ExceptionInfo[ProblemsError]) -> list[str]:
    return [problem.message for problem in excinfo.value.problems]


# --- sops-nix's own scenario --------------------------------------------------------------


def nix_manifest(**changes: Any) -> dict[str, Any]:
    """A manifest of the shape manifest-for.nix writes, on sops-nix's test assets."""

    def secret(name: str, **more: Any) -> dict[str, Any]:
        entry = {
            "format": "yaml", "gid": 0, "group": None, "key": name, "mode": "0400", "name": name,
            "neededForUsers": False, "owner": None, "path": f"/run/secrets/{name}",
            "reloadUnits": [], "restartUnits": [], "sopsFile": str(SOPS_NIX_VECTORS / "secrets.yaml"),
            "sopsFileHash": "x", "uid": 0,
        }  # fmt: skip
        entry.update(more)
        return entry

    manifest = {
        "ageKeyFile": str(SOPS_NIX_VECTORS / "age-keys.txt"), "ageSshKeyPaths": [],
        "gnupgHome": None, "keepGenerations": 1,
        "logging": {"keyImport": True, "secretChanges": True},
        "placeholderBySecretName": {"test_key": PLACEHOLDER, "nested/test/file": NESTED_PLACEHOLDER},
        "secrets": [secret("test_key", restartUnits=["x.service"]), secret("nested/test/file")],
        "secretsMountPoint": "/run/secrets.d", "sshKeyPaths": [], "symlinkPath": "/run/secrets",
        "templates": [{
            "content": f"pw={PLACEHOLDER}\nnested={NESTED_PLACEHOLDER}\n", "file": "/nix/store/t",
            "gid": 0, "group": None, "mode": "0400", "name": "test_template", "owner": None,
            "path": "/run/secrets/rendered/test_template", "reloadUnits": [],
            "restartUnits": ["y.service"], "uid": 0,
        }],
        "useTmpfs": False, "userMode": False,
    }  # fmt: skip
    manifest.update(changes)
    return manifest


def load_nix(document: dict[str, Any]) -> Manifest:
    return parse_manifest(json.dumps(document), "/nix/store/x-manifest.json")


def test_sops_nix_scenario_with_its_age_key(accounts: FakeAccounts) -> None:
    plan = build_plan(load_nix(nix_manifest()), accounts=accounts)
    assert contents(plan) == {
        "test_key": b"test_value",
        "nested/test/file": b"another value",
        "rendered/test_template": b"pw=test_value\nnested=another value\n",
    }
    first = plan.files[0]
    assert (first.kind, first.uid, first.gid, first.mode) == (ItemKind.SECRET, 0, 0, 0o400)
    assert (first.owner_label, first.group_label) == ("root", "root")
    assert first.restart_units == ("x.service",)
    assert plan.files[2].kind is ItemKind.TEMPLATE
    assert plan.files[2].restart_units == ("y.service",)
    assert plan.warnings == ()
    assert not plan.check_only


def test_sops_nix_scenario_with_its_ssh_key(accounts: FakeAccounts) -> None:
    document = nix_manifest(ageKeyFile=None, ageSshKeyPaths=[str(SOPS_NIX_VECTORS / "ssh-ed25519-key")])
    plan = build_plan(load_nix(document), accounts=accounts)
    assert contents(plan)["test_key"] == b"test_value"


def test_ssh_rsa_key_paths_open_the_pgp_entries(accounts: FakeAccounts, monkeypatch: pytest.MonkeyPatch) -> None:
    """sops-nix's sshKeyPaths: the RSA key is imported with gpg into a home that goes after."""
    require_gpg()
    runtime = Path(tempfile.mkdtemp(prefix="sc-run-", dir="/dev/shm"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    try:
        document = nix_manifest(ageKeyFile=None, sshKeyPaths=[str(VECTOR_SSH_RSA)])
        plan = build_plan(load_nix(document), accounts=accounts)
        assert contents(plan)["test_key"] == b"test_value"
        assert plan.imported_gpg_keys == ((str(VECTOR_SSH_RSA), VECTOR_SSH_PGP.lower()),)
        assert plan.warnings == ()
        assert list(runtime.iterdir()) == [], "the temporary GnuPG home was left behind"
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def test_a_key_sshkeypaths_cannot_import_is_skipped_with_a_warning(accounts: FakeAccounts) -> None:
    require_gpg()
    document = nix_manifest(sshKeyPaths=[str(SOPS_NIX_VECTORS / "ssh-ed25519-key"), "/nonexistent/key"])
    plan = build_plan(load_nix(document), accounts=accounts)
    assert contents(plan)["test_key"] == b"test_value"  # through ageKeyFile
    assert plan.imported_gpg_keys == ()
    assert plan.warnings == (
        f"sshKeyPaths {SOPS_NIX_VECTORS / 'ssh-ed25519-key'}: only RSA keys can be imported as"
        " GPG keys (skipped)",
        "sshKeyPaths /nonexistent/key: cannot read ssh key: No such file or directory (skipped)",
    )


def test_gnupg_home_opens_the_pgp_entries(accounts: FakeAccounts, gnupg_home: GnupgHome) -> None:
    gnupg_home.import_key(VECTOR_KEY_ASC)
    document = nix_manifest(ageKeyFile=None, gnupgHome=str(gnupg_home.path))
    plan = build_plan(load_nix(document), accounts=accounts)
    assert contents(plan)["test_key"] == b"test_value"
    assert plan.warnings == ()


def test_gnupg_home_in_secretsctl_yaml(tmp_path: Path, accounts: FakeAccounts, gnupg_home: GnupgHome) -> None:
    gnupg_home.import_key(VECTOR_KEY_ASC)
    manifest = config(
        tmp_path,
        f"defaults: {{sops_file: {SOPS_NIX_VECTORS / 'secrets.json'}, format: json,"
        f" gnupg_home: {gnupg_home.path}}}\nsecrets: {{test_key: {{}}}}\n",
    )
    assert manifest.keys.gnupg_home == str(gnupg_home.path)
    assert contents(build_plan(manifest, accounts=accounts)) == {"test_key": b"test_value"}


def test_a_gnupg_home_without_the_key_names_the_fingerprint(accounts: FakeAccounts, gnupg_home: GnupgHome) -> None:
    gnupg_home.generate("other", "ed25519")
    document = nix_manifest(ageKeyFile=None, gnupgHome=str(gnupg_home.path))
    with pytest.raises(ProblemsError) as caught:
        build_plan(load_nix(document), accounts=accounts)
    assert caught.value.exit_code == ExitCode.COULD_NOT_RETRIEVE_KEY
    (message,) = problems(caught)
    assert f"pgp:{VECTOR_PGP}: gpg: decryption failed: No secret key" in message


def test_ignore_passwd_is_root_without_lookups(accounts: FakeAccounts) -> None:
    document = nix_manifest()
    document["secrets"][0]["owner"] = "nobody-at-all"
    plan = build_plan(load_nix(document), accounts=accounts, ignore_passwd=True)
    assert {(f.uid, f.gid) for f in plan.files} == {(0, 0)}
    assert accounts.lookups == 0


def test_placeholders_are_substituted_in_one_pass(accounts: FakeAccounts, encrypt: Encryptor) -> None:
    # A value holding another secret's placeholder is inserted as it is, never re-scanned.
    path = encrypt("s.yaml", f"a: '{NESTED_PLACEHOLDER}'\nb: second\n")
    document = nix_manifest(
        ageKeyFile=str(path.parent / "keys.txt"),
        placeholderBySecretName={"a": PLACEHOLDER, "b": NESTED_PLACEHOLDER},
    )
    document["secrets"] = [
        dict(document["secrets"][0], name="a", key="a", sopsFile=str(path)),
        dict(document["secrets"][0], name="b", key="b", sopsFile=str(path)),
    ]
    plan = build_plan(load_nix(document), accounts=accounts)
    assert contents(plan)["rendered/test_template"] == (
        f"pw={NESTED_PLACEHOLDER}\nnested=second\n".encode()
    )


def test_a_leftover_placeholder_is_warned_about_by_name(accounts: FakeAccounts) -> None:
    other = "<SOPS:" + "ab" * 32 + ":PLACEHOLDER>"
    document = nix_manifest()
    document["templates"][0]["content"] = f"a={PLACEHOLDER}\nb={other}\n"
    plan = build_plan(load_nix(document), accounts=accounts)
    assert contents(plan)["rendered/test_template"] == f"a=test_value\nb={other}\n".encode()
    (warning,) = plan.warnings
    assert "template 'test_template' keeps the placeholder" in warning
    assert other in warning


# --- key paths ------------------------------------------------------------------


YAML_DOC = """\
top: one
nested:
    inner:
        leaf: two
    number: 7
    flag: true
list: [a, b]
empty: ''
none: null
"""


@pytest.fixture
def yaml_config(tmp_path: Path, encrypt: Encryptor) -> Any:
    encrypt("s.yaml", YAML_DOC)

    def make(secrets: str) -> Manifest:
        return config(
            tmp_path,
            "defaults: {sops_file: s.yaml, age_key_file: keys.txt}\nsecrets:\n"
            + textwrap.indent(textwrap.dedent(secrets), "  "),
        )

    return make


def test_key_paths_walk_mappings(yaml_config: Any, accounts: FakeAccounts) -> None:
    manifest = yaml_config(
        """\
        top: {}
        leaf: {key: nested/inner/leaf}
        empty: {}
        """
    )
    plan = build_plan(manifest, accounts=accounts)
    assert contents(plan) == {"top": b"one", "leaf": b"two", "empty": b""}


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("nested", "the value at key 'nested' is a mapping, not a string"),
        ("nested/inner", "the value at key 'nested/inner' is a mapping, not a string"),
        ("nested/number", "the value at key 'nested/number' is an integer, not a string"),
        ("nested/flag", "the value at key 'nested/flag' is a boolean, not a string"),
        ("list", "the value at key 'list' is a list, not a string"),
        ("none", "the value at key 'none' is null, not a string"),
        ("missing", "the key 'missing' cannot be found"),
        ("nested/inner/nope", "the key 'nested/inner/nope' cannot be found"),
        ("top/x", "the key 'top' is a string, not a mapping"),
        ("list/0", "the key 'list' is a list, not a mapping"),
    ],
)
def test_key_path_errors_name_the_full_path_and_the_type(
    yaml_config: Any, accounts: FakeAccounts, tmp_path: Path, key: str, message: str
) -> None:
    manifest = yaml_config(f"x: {{key: {key}}}\n")
    with pytest.raises(ProblemsError) as caught:
        build_plan(manifest, accounts=accounts)
    (found,) = problems(caught)
    config_file = tmp_path / "secretsctl.yaml"
    assert found == (
        f"{config_file}:3:12: secrets.x.key: secret 'x' in {tmp_path / 's.yaml'} is not valid:"
        f" {message}"
    )


def test_a_key_defaulted_from_the_name_points_at_the_name(yaml_config: Any, accounts: FakeAccounts) -> None:
    with pytest.raises(ProblemsError, match=r"secretsctl.yaml:3:3: secrets.nope: secret 'nope'"):
        build_plan(yaml_config("nope: {}\n"), accounts=accounts)


def test_the_whole_file_is_what_sops_decrypt_prints(yaml_config: Any, accounts: FakeAccounts, tmp_path: Path) -> None:
    manifest = yaml_config("all: {key: ''}\n")
    plan = build_plan(manifest, accounts=accounts)
    from secretsctl.keys.sources import load_identities

    identities = load_identities(use_environment=False, age_key_file=tmp_path / "keys.txt")
    sops_file = codec.parse((tmp_path / "s.yaml").read_bytes(), Format.YAML)
    decrypted = codec.decrypt_file(sops_file, identities, label="s.yaml")
    assert contents(plan)["all"] == Format.YAML.store.emit_plain(decrypted.documents)
    assert contents(plan)["all"].startswith(b"top: one\nnested:\n    inner:")


def test_nested_json_keys_work(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts) -> None:
    encrypt("s.json", json.dumps({"db": {"password": "pw", "port": 5432}, "top": "t"}))
    manifest = config(
        tmp_path,
        """\
        defaults: {sops_file: s.json, format: json, age_key_file: keys.txt}
        secrets:
          db/password: {}
          top: {}
          whole: {key: ""}
        """,
    )
    plan = build_plan(manifest, accounts=accounts)
    found = contents(plan)
    assert found["db/password"] == b"pw"
    assert found["top"] == b"t"
    assert found["whole"] == b'{\n\t"db": {\n\t\t"password": "pw",\n\t\t"port": 5432\n\t},\n\t"top": "t"\n}\n'
    bad = config(
        tmp_path,
        "defaults: {sops_file: s.json, format: json, age_key_file: keys.txt}\n"
        "secrets: {db/port: {}}\n",
    )
    with pytest.raises(ProblemsError, match="the value at key 'db/port' is a number, not a string"):
        build_plan(bad, accounts=accounts)


@pytest.mark.parametrize(
    ("name", "fmt", "plaintext"),
    [
        ("s.env", "dotenv", b"A=1\nB=two words\n"),
        ("s.ini", "ini", b"[section]\nkey = value\n"),
        ("s.bin", "binary", b"\x00\xffbinary\nbytes"),
    ],
)
def test_whole_file_formats(
    tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts, name: str, fmt: str, plaintext: bytes
) -> None:
    encrypt(name, plaintext, Format(fmt))
    manifest = config(
        tmp_path,
        f"defaults: {{age_key_file: keys.txt}}\nsecrets:\n  x: {{sops_file: {name}, format: {fmt}}}\n",
    )
    assert contents(build_plan(manifest, accounts=accounts))["x"] == plaintext


# --- decryption: once per file, every failure reported --------------------------------------


def test_each_sops_file_is_decrypted_once(
    tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    encrypt("a.yaml", "x: 1x\ny: 2y\nz: 3z\n")
    encrypt("b.yaml", "w: 4w\n")
    calls: list[str] = []
    original = codec.decrypt_file

    def counting(sops_file: Any, identities: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["label"])
        return original(sops_file, identities, **kwargs)

    monkeypatch.setattr(codec, "decrypt_file", counting)
    from secretsctl.keys import keyring

    unwraps: list[str] = []
    original_unwrap = keyring.unwrap_data_key

    def counting_unwrap(metadata: Any, identities: Any, *, file: str) -> Any:
        unwraps.append(file)
        return original_unwrap(metadata, identities, file=file)

    monkeypatch.setattr(keyring, "unwrap_data_key", counting_unwrap)
    manifest = config(
        tmp_path,
        """\
        defaults: {sops_file: a.yaml, age_key_file: keys.txt}
        secrets:
          x: {}
          y: {}
          whole: {key: ""}
          w: {sops_file: b.yaml}
          z: {}
        templates:
          t: {content: "{{ x }}{{ w }}"}
        """,
    )
    plan = build_plan(manifest, accounts=accounts)
    assert contents(plan)["z"] == b"3z"
    assert contents(plan)["rendered/t"] == b"1x4w"
    assert calls == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]
    assert unwraps == calls


def test_every_problem_is_reported_together(
    tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts, age_key: AgeKey
) -> None:
    encrypt("good.yaml", "a: secret-a\nn: 5\n")
    other_key = tmp_path / "other"
    other_key.mkdir()
    from tests.conftest import make_age_key

    Encryptor(make_age_key(other_key), tmp_path)("locked.yaml", "l: secret-l\n")
    tampered = encrypt("tampered.yaml", "t: secret-t\n")
    tampered.write_text(tampered.read_text().replace("mac: ENC[AES256_GCM,data:", "mac: ENC[AES256_GCM,data:AA"))
    (tmp_path / "broken.yaml").write_text("a: [\n")
    manifest = config(
        tmp_path,
        """\
        defaults: {sops_file: good.yaml, age_key_file: keys.txt}
        secrets:
          a: {owner: mallory}
          n: {}
          l: {sops_file: locked.yaml}
          t: {sops_file: tampered.yaml}
          b: {sops_file: broken.yaml}
          m: {sops_file: missing.yaml}
          g: {group: nogroup-here}
        templates:
          bad: {content: "{{ nope }}"}
          syntax: {content: "{% if %}"}
          fine: {content: "{{ a }}"}
        """,
    )
    with pytest.raises(ProblemsError) as caught:
        build_plan(manifest, accounts=accounts)
    messages = problems(caught)
    expected = [
        "secrets.g: secret 'g' in",  # not in good.yaml
        "secrets.n: secret 'n' in",  # an integer
        "secrets.l.sops_file: no identity matched",
        "secrets.t.sops_file:",  # MAC
        "secrets.b.sops_file:",  # YAML
        "missing.yaml: cannot read: No such file",
        "templates.bad.content: line 1: 'nope' is not a secret",
        "templates.syntax.content: line 1:",
        "secrets.a.owner: unknown user 'mallory'",
        "secrets.g.group: unknown group 'nogroup-here'",
    ]
    assert len(messages) == len(expected), messages
    for fragment in expected:
        assert any(fragment in message for message in messages), (fragment, messages)
    text = caught.value.message
    for value in ("secret-a", "secret-l", "secret-t", "5\n"):
        assert value not in text
    assert caught.value.exit_code == ExitCode.GENERIC  # mixed causes
    classes = {type(problem).__name__ for problem in caught.value.problems}
    assert {"ManifestError", "NoMatchingIdentityError", "MacMismatchError", "InputError"} <= classes


def test_a_missing_age_key_file_is_a_problem(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts) -> None:
    encrypt("s.yaml", "a: b\n")
    manifest = config(tmp_path, "defaults: {sops_file: s.yaml, age_key_file: nope.txt}\nsecrets: {a: {}}\n")
    with pytest.raises(ProblemsError) as caught:
        build_plan(manifest, accounts=accounts)
    messages = problems(caught)
    assert any("cannot use the age key file" in m and "nope.txt" in m for m in messages), messages
    # A script sees sops's "could not retrieve key" code, as for a key that opens nothing.
    assert caught.value.exit_code == ExitCode.COULD_NOT_RETRIEVE_KEY


def test_a_missing_ssh_key_is_skipped_with_a_warning(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts) -> None:
    encrypt("s.yaml", "a: b\n")
    manifest = config(
        tmp_path,
        "defaults: {sops_file: s.yaml, age_key_file: keys.txt, ssh_key_paths: [nokey]}\n"
        "secrets: {a: {}}\n",
    )
    plan = build_plan(manifest, accounts=accounts)
    assert contents(plan) == {"a": b"b"}
    (warning,) = plan.warnings
    assert "nokey" in warning
    assert "skipped" in warning


def test_no_key_source_at_all(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts, monkeypatch: pytest.MonkeyPatch) -> None:
    encrypt("s.yaml", "a: b\n")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "keys.txt"))  # never read
    manifest = config(tmp_path, "defaults: {sops_file: s.yaml}\nsecrets: {a: {}}\n")
    with pytest.raises(ProblemsError) as caught:
        build_plan(manifest, accounts=accounts)
    (message,) = problems(caught)
    assert "no key source is configured" in message
    environment = config(tmp_path, "defaults: {sops_file: s.yaml, use_environment: true}\nsecrets: {a: {}}\n")
    assert contents(build_plan(environment, accounts=accounts)) == {"a": b"b"}


def test_identities_can_be_given(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts) -> None:
    from secretsctl.keys.sources import load_identities

    encrypt("s.yaml", "a: b\n")
    manifest = config(tmp_path, "defaults: {sops_file: s.yaml}\nsecrets: {a: {}}\n")
    identities = load_identities(use_environment=False, age_key_file=tmp_path / "keys.txt")
    assert contents(build_plan(manifest, identities=identities, accounts=accounts)) == {"a": b"b"}


# --- owners --------------------------------------------------------------------------------


def test_owners_and_groups(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts) -> None:
    encrypt("s.yaml", "a: 1a\nb: 2b\nc: 3c\nd: 4d\ne: 5e\n")
    manifest = config(
        tmp_path,
        """\
        defaults: {sops_file: s.yaml, age_key_file: keys.txt}
        secrets:
          a: {owner: alice}               # the owner's primary group
          b: {owner: alice, group: wheel}
          c: {uid: 1001}                  # a uid alone: group 0
          d: {uid: 4242, gid: 4343}       # unknown numbers are fine
          e: {group: users, mode: "0440"}
        """,
    )
    files = {f.name: f for f in build_plan(manifest, accounts=accounts).files}
    assert (files["a"].uid, files["a"].gid, files["a"].owner_label, files["a"].group_label) == (1000, 100, "alice", "users")
    assert (files["b"].gid, files["b"].group_label) == (10, "wheel")
    # A configured number is labelled as written (no reverse lookup); 0 reads as root.
    assert (files["c"].uid, files["c"].gid, files["c"].owner_label, files["c"].group_label) == (1001, 0, "1001", "root")
    assert (files["d"].owner_label, files["d"].group_label) == ("4242", "4343")
    assert (files["e"].uid, files["e"].gid, files["e"].mode) == (0, 100, 0o440)


def test_an_unknown_user_is_reported_once_with_its_uses(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts) -> None:
    encrypt("s.yaml", "a: x\nb: y\nc: z\n")
    manifest = config(
        tmp_path,
        """\
        defaults: {sops_file: s.yaml, age_key_file: keys.txt, owner: ghost}
        secrets: {a: {}, b: {}, c: {owner: root}}
        """,
    )
    with pytest.raises(ProblemsError) as caught:
        build_plan(manifest, accounts=accounts)
    (message,) = problems(caught)
    assert message.endswith("unknown user 'ghost' (named by 1 more)")


def test_system_accounts_know_root() -> None:
    from secretsctl.render.plan import SystemAccounts

    system = SystemAccounts()
    assert system.user("root") == (0, 0)
    assert system.group("root") == 0
    assert system.user_name(0) == "root"
    assert system.group_name(0) == "root"
    assert system.user("no-such-user-here") is None
    assert system.group("no-such-group-here") is None
    assert system.user_name(2**31 - 7) is None
    assert system.group_name(2**31 - 7) is None


# --- check_only -----------------------------------------------------------------------------


def test_check_only_needs_no_key_and_walks_the_encrypted_tree(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts) -> None:
    encrypt("s.yaml", "a: x\nn: 5\nl: [1]\nm: {k: v}\nport_unencrypted: 80\n")
    manifest = config(
        tmp_path,
        """\
        defaults: {sops_file: s.yaml, age_key_file: /nonexistent/keys.txt}
        secrets:
          a: {owner: alice}
          m/k: {}
        templates:
          t: {content: "{{ a }}{{ secrets['m/k'] }}"}
        """,
    )
    plan = build_plan(manifest, accounts=accounts, check_only=True)
    assert plan.check_only
    assert {f.content.reveal() for f in plan.files} == {b""}
    assert plan.files[0].uid == 1000
    bad = config(
        tmp_path,
        """\
        defaults: {sops_file: s.yaml}
        secrets:
          n: {}
          l: {}
          m: {}
          port_unencrypted: {}
          missing: {}
          x: {owner: ghost}
        templates:
          t: {content: "{{ secrets.nope }}"}
        """,
    )
    with pytest.raises(ProblemsError) as caught:
        build_plan(bad, accounts=accounts, check_only=True)
    messages = problems(caught)
    for fragment in (
        "the value at key 'n' is an encrypted integer, not a string",
        "the value at key 'l' is a list, not a string",
        "the value at key 'm' is a mapping, not a string",
        "the value at key 'port_unencrypted' is an integer, not a string",
        "the key 'missing' cannot be found",
        "the key 'x' cannot be found",
        "unknown user 'ghost'",
        "'nope' is not a secret",
    ):
        assert any(fragment in m for m in messages), (fragment, messages)
    assert len(messages) == 8


def test_check_only_reports_unreadable_files(tmp_path: Path, accounts: FakeAccounts) -> None:
    manifest = config(tmp_path, "defaults: {sops_file: nope.yaml}\nsecrets: {a: {}}\n")
    with pytest.raises(ProblemsError, match="cannot read"):
        build_plan(manifest, accounts=accounts, check_only=True)


# --- templates ------------------------------------------------------------------------------


def test_jinja_templates_see_secrets_by_name(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts) -> None:
    encrypt("s.yaml", "token: \"it's $HOME\"\ndb:\n    password: p@ss\n")
    source = tmp_path / "env.j2"
    source.write_text("TOKEN={{ token | env }}\nSH={{ token | shell }}\nDB={{ secrets['db/password'] | json }}\n")
    manifest = config(
        tmp_path,
        """\
        defaults: {sops_file: s.yaml, age_key_file: keys.txt}
        secrets: {token: {}, db/password: {}}
        templates:
          env: {source: env.j2, owner: alice, mode: "0400", restart_units: [a.service]}
          inline:
            content: |
              {{ token }}
        """,
    )
    plan = build_plan(manifest, accounts=accounts)
    found = contents(plan)
    assert found["rendered/env"] == b"TOKEN=\"it's \\$HOME\"\nSH='it'\\''s $HOME'\nDB=\"p@ss\"\n"
    assert found["rendered/inline"] == b"it's $HOME\n"
    env = plan.files[2]
    assert (env.uid, env.mode, env.restart_units) == (1000, 0o400, ("a.service",))


def test_template_errors_name_the_source_file_and_line(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts) -> None:
    encrypt("s.yaml", "token: abc\n")
    (tmp_path / "t.j2").write_text("line one\n{{ tokn }}\n")
    (tmp_path / "u.j2").write_text("{{ token }}\n{{ token | int + none }}\n")
    manifest = config(
        tmp_path,
        """\
        defaults: {sops_file: s.yaml, age_key_file: keys.txt}
        secrets: {token: {}}
        templates:
          t: {source: t.j2}
          u: {source: u.j2}
        """,
    )
    with pytest.raises(ProblemsError) as caught:
        build_plan(manifest, accounts=accounts)
    first, second = problems(caught)
    assert first == f"{tmp_path / 't.j2'}:2: templates.t: 'tokn' is not a secret of this configuration; did you mean 'token'?"
    assert second.startswith(f"{tmp_path / 'u.j2'}:2: templates.u: ")
    assert "abc" not in second


def test_jinja_is_imported_only_for_templates_that_need_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    config_file = str(tmp_path / "c.yaml")
    script = textwrap.dedent(
        f"""
        import sys
        from secretsctl.config.load import parse_config
        from secretsctl.render.plan import build_plan
        build_plan(parse_config("secrets: {{}}\\n", {config_file!r}))
        assert "jinja2" not in sys.modules, "jinja2 imported"
        assert "ruamel" not in str(sorted(sys.modules)), "ruamel imported"
        # the shipped templates only substitute: still no jinja2
        example = parse_config(open("examples/secretsctl.yaml").read(), "examples/secretsctl.yaml")
        assert len(build_plan(example, ignore_passwd=True).files) == 4
        assert "jinja2" not in sys.modules, "jinja2 imported for the example"
        arithmetic = parse_config(
            "secrets: {{}}\\ntemplates: {{t: {{content: '{{{{ 1 + 1 }}}}'}}}}\\n", {config_file!r}
        )
        assert build_plan(arithmetic).files[0].content.reveal() == b"2"
        assert "jinja2" in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO)


def test_errors_are_secretsctl_errors_only(tmp_path: Path, accounts: FakeAccounts) -> None:
    manifest = config(tmp_path, "defaults: {sops_file: s.yaml}\nsecrets: {a: {}}\n")
    with pytest.raises(SecretsctlError):
        build_plan(manifest, accounts=accounts)


def test_no_error_class_quotes_a_value(tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts) -> None:
    """Every error class build_plan raises, each provoked with distinctive values around."""
    secret = "VALUE-7f3a9c"
    encrypt("good.yaml", f"a: {secret}-a\nn: 42\nl: [{secret}-l]\n")
    moved = encrypt("moved.yaml", f"p: {secret}-p\nq: {secret}-q\n")
    text = moved.read_text()
    # swap the two encrypted values: each is intact, but under the wrong key path (its AAD)
    p_line = next(line for line in text.splitlines() if line.startswith("p: "))
    q_line = next(line for line in text.splitlines() if line.startswith("q: "))
    moved.write_text(text.replace(p_line, "p: " + q_line[3:]).replace(q_line, "q: " + p_line[3:]))
    bad_key = tmp_path / "bad-keys.txt"
    bad_key.write_text(f"AGE-SECRET-KEY-1{secret}\n")
    manifest = config(
        tmp_path,
        """\
        defaults: {sops_file: good.yaml, age_key_file: keys.txt}
        secrets:
          n: {}
          l: {}
          p: {sops_file: moved.yaml}
          a: {}
        templates:
          t: {content: "{{ secrets[a] }}"}
          u: {content: "{{ a | shell | int(base=a) }}{{ a.b.c }}"}
        """,
    )
    with pytest.raises(ProblemsError) as caught:
        build_plan(manifest, accounts=accounts)
    assert secret not in caught.value.message
    assert "ValueDecryptionError" in {type(p).__name__ for p in caught.value.problems}
    broken_keys = config(
        tmp_path, f"defaults: {{sops_file: good.yaml, age_key_file: {bad_key}}}\nsecrets: {{a: {{}}}}\n"
    )
    with pytest.raises(ProblemsError) as caught:
        build_plan(broken_keys, accounts=accounts)
    assert "KeySourceError" in {type(p).__name__ for p in caught.value.problems}
    assert secret not in caught.value.message


def test_planned_files_have_every_field(accounts: FakeAccounts) -> None:

    from secretsctl.render.model import PlannedFile

    for planned in build_plan(load_nix(nix_manifest()), accounts=accounts).files:
        values = planned._asdict()
        assert PlannedFile(**values) == planned


def test_the_example_configuration() -> None:
    from secretsctl.config.load import load_config
    from secretsctl.envfile import parse
    from tests.conftest import REPO

    manifest = load_config(REPO / "examples" / "secretsctl.yaml")
    plan = build_plan(manifest, ignore_passwd=True)
    found = contents(plan)
    token = found["github_token"].decode()
    assert found["rendered/nix-access-tokens.conf"] == f"access-tokens = github.com={token}\n".encode()
    env_file = found["rendered/github_token_env"].decode()
    assert env_file.startswith('GITHUB_TOKEN="')
    assert env_file.endswith('"\n')
    assert parse(env_file) == {"GITHUB_TOKEN": token}
    by_name = {f.relative_path: f for f in plan.files}
    assert by_name["rendered/nix-access-tokens.conf"].mode == 0o440
    assert by_name["rendered/github_token_env"].mode == 0o400
    assert by_name["rendered/github_token_env"].restart_units == ("ci-keyboard-leds.service",)
    spec = {t.name: t for t in manifest.templates}
    # The desktop user by number: the example needs no user database (README, first command).
    assert (spec["github_token_env"].ownership.uid, spec["github_token_env"].ownership.gid) == (
        1000,
        1000,
    )
    assert spec["nix-access-tokens.conf"].ownership.gid == 1000
    assert manifest.keep_generations == 2


# --- configuration problems and the plan's own, together ----------------------------------


def test_configuration_and_plan_problems_are_reported_together(
    tmp_path: Path, encrypt: Encryptor, accounts: FakeAccounts
) -> None:
    from secretsctl.config.load import read_config

    encrypt("s.yaml", YAML_DOC)
    path = tmp_path / "secretsctl.yaml"
    path.write_text(
        "defaults: {sops_file: s.yaml, age_key_file: keys.txt}\n"
        "secrets:\n"
        "  broken: {mode: '0999', key: nested/number}\n"  # a config problem; never decrypted
        "  missing: {}\n"  # a plan problem: no such key in the file
        "  owned: {owner: nobody-here, key: nested/inner/leaf}\n"  # a plan problem: no user
        "templates:\n"
        "  t: {content: '{{ broken }}{{ nosuch }}'}\n"  # knows `broken`; `nosuch` is a problem
    )
    read = read_config(path)
    assert read.flawed == {"broken"}
    assert [s.name for s in read.manifest.secrets] == ["broken", "missing", "owned"]
    with pytest.raises(ProblemsError) as caught:
        build_plan(read.manifest, accounts=accounts, earlier=read.problems, skip=read.flawed)
    found = problems(caught)
    assert len(found) == 4, found
    assert "secrets.broken.mode" in found[0]  # configuration problems first
    assert sum("'missing'" in line for line in found) == 1
    assert sum("nobody-here" in line for line in found) == 1
    assert sum("'nosuch'" in line for line in found) == 1
    assert not any("nested/number" in line for line in found), "a flawed secret was decrypted"


def test_a_problem_of_the_defaults_is_raised_at_once(tmp_path: Path) -> None:
    from secretsctl.config.load import read_config

    path = tmp_path / "secretsctl.yaml"
    path.write_text("defaults: {mode: '0999'}\nsecrets:\n  a: {mode: '0888'}\n")
    with pytest.raises(ProblemsError) as caught:
        read_config(path)
    assert "defaults.mode" in caught.value.problems[0].message
