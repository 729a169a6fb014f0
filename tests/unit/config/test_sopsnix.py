"""sops-nix's manifest.json, decoded as sops-install-secrets decodes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from secretsctl.config.model import KeySettings, Ownership, TemplateEngine
from secretsctl.config.sopsnix import load_manifest, parse_manifest, replace_runtime_dir
from secretsctl.errors import ExitCode, ManifestError, ProblemsError
from secretsctl.sops.stores import Format

PATH = "/nix/store/x-manifest.json"
PLACEHOLDER = "<SOPS:92488e1e3eeecdf99f3ed2ce59233efb4b4fb612d5655c0ce9ea52b5a502e655:PLACEHOLDER>"


def nix_secret(**changes: Any) -> dict[str, Any]:
    """A secret as manifest-for.nix writes it (keys sorted)."""
    secret = {
        "format": "yaml", "gid": 0, "group": None, "key": "test_key", "mode": "0400",
        "name": "test_key", "neededForUsers": False, "owner": None,
        "path": "/run/secrets/test_key", "reloadUnits": [], "restartUnits": ["x.service"],
        "sopsFile": "/nix/store/y-secrets.yaml", "sopsFileHash": "abc", "uid": 0,
    }  # fmt: skip
    secret.update(changes)
    return secret


def nix_manifest(**changes: Any) -> dict[str, Any]:
    manifest = {
        "ageKeyFile": "/run/age-keys.txt", "ageSshKeyPaths": [], "gnupgHome": None,
        "keepGenerations": 1, "logging": {"keyImport": True, "secretChanges": True},
        "placeholderBySecretName": {"test_key": PLACEHOLDER},
        "secrets": [nix_secret()],
        "secretsMountPoint": "/run/secrets.d", "sshKeyPaths": [], "symlinkPath": "/run/secrets",
        "templates": [{
            "content": f"pw={PLACEHOLDER}\n", "file": "/nix/store/z-t", "gid": 0, "group": None,
            "mode": "0400", "name": "t", "owner": None, "path": "/run/secrets/rendered/t",
            "reloadUnits": [], "restartUnits": [], "uid": 0,
        }],
        "useTmpfs": False, "userMode": False,
    }  # fmt: skip
    manifest.update(changes)
    return manifest


PATHS = {"secretsMountPoint": "/run/secrets.d", "symlinkPath": "/run/secrets"}


def parse(document: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
    if isinstance(document, dict):
        document = {**PATHS, **document}
    return parse_manifest(json.dumps(document), PATH, **kwargs)


def problems_of(document: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(ProblemsError) as caught:
        parse(document, **kwargs)
    assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG
    return [problem.message for problem in caught.value.problems]


def test_the_shape_nix_generates() -> None:
    manifest = parse(nix_manifest())
    (secret,) = manifest.secrets
    assert secret.name == "test_key"
    assert secret.key == "test_key"
    assert secret.format is Format.YAML
    assert secret.sops_file == "/nix/store/y-secrets.yaml"
    assert secret.ownership == Ownership(owner=None, uid=0, group=None, gid=0)
    assert secret.mode == 0o400
    assert secret.path is None  # the default path needs no link
    assert secret.restart_units == ("x.service",)
    (template,) = manifest.templates
    assert template.engine is TemplateEngine.PLACEHOLDER
    assert template.text == f"pw={PLACEHOLDER}\n"
    assert template.source is None
    assert template.path is None
    assert manifest.placeholders == {"test_key": PLACEHOLDER}
    assert manifest.keys == KeySettings(
        age_key_file="/run/age-keys.txt",
        use_environment=True,
        unread_variables=("SOPS_AGE_KEY_FILE",),
    )
    assert manifest.keep_generations == 1
    assert manifest.log_secret_changes
    assert manifest.log_key_import
    assert (manifest.mount_point, manifest.symlink_path) == ("/run/secrets.d", "/run/secrets")


def test_missing_fields_and_nulls_are_zero_values() -> None:
    manifest = parse({"secrets": [{"name": "a", "mode": "0400", "uid": None, "format": None}]})
    (secret,) = manifest.secrets
    assert secret.key == ""
    assert secret.format is Format.YAML
    assert secret.ownership == Ownership(uid=0, gid=0)
    assert manifest.keep_generations == 0  # missing: pruning off
    assert not manifest.log_secret_changes  # missing logging: nothing logged
    assert manifest.keys == KeySettings(use_environment=True)


def test_the_runtime_paths_must_be_absolute() -> None:
    messages = problems_of({"secretsMountPoint": "", "symlinkPath": "run/secrets"})
    assert messages == [
        f"{PATH}: secretsMountPoint: must be an absolute path",
        f"{PATH}: symlinkPath: must be an absolute path",
    ]


def test_unknown_fields_are_ignored_and_names_match_case_insensitively() -> None:
    manifest = parse(
        {"Secrets": [{"NAME": "a", "Mode": "0440", "extra": [1, {"x": None}]}], "future": 1}
    )
    assert parse({"SYMLINKPATH": "/x"}).symlink_path == "/x"
    assert manifest.secrets[0].name == "a"
    assert manifest.secrets[0].mode == 0o440


def test_a_repeated_field_keeps_its_last_value() -> None:
    text = '{"secrets": [{"name": "a", "mode": "0400", "name": "b"}], "symlinkPath": "/s",'
    text += ' "secretsMountPoint": "/m"}'
    assert parse_manifest(text, PATH).secrets[0].name == "b"


def test_names_win_over_ids() -> None:
    manifest = parse({"secrets": [nix_secret(owner="alice", uid=5, group="staff", gid=6)]})
    assert manifest.secrets[0].ownership == Ownership(owner="alice", uid=5, group="staff", gid=6)


def test_ignore_passwd_makes_everything_root() -> None:
    document = nix_manifest(secrets=[nix_secret(owner="alice", uid=5, group="staff", gid=6)])
    manifest = parse(document, ignore_passwd=True)
    assert manifest.secrets[0].ownership == Ownership(uid=0, gid=0)
    assert manifest.templates[0].ownership == Ownership(uid=0, gid=0)


def test_custom_paths_are_kept_default_ones_dropped() -> None:
    manifest = parse(
        nix_manifest(
            secrets=[nix_secret(path="/etc/x"), nix_secret(name="n/x", key="k", path="/run/secrets/n/x")],
            placeholderBySecretName={"test_key": PLACEHOLDER, "n/x": "<SOPS:1:PLACEHOLDER>"},
        )
    )
    assert [s.path for s in manifest.secrets] == ["/etc/x", None]


def test_content_beats_file_and_file_is_read(tmp_path: Path) -> None:
    file = tmp_path / "t"
    file.write_bytes(b"from file \xff\n")
    template = nix_manifest()["templates"][0]
    both = dict(template, content="inline", file=str(file))
    only_file = dict(template, content="", file=str(file), name="u")
    manifest = parse(nix_manifest(templates=[both, only_file]))
    first, second = manifest.templates
    assert first.text == "inline"
    assert first.source is None
    assert second.text.encode("utf-8", "surrogateescape") == b"from file \xff\n"
    assert second.source == str(file)


def test_user_mode_substitutes_the_runtime_directory() -> None:
    document = nix_manifest(
        userMode=True,
        secretsMountPoint="%r/secrets.d",
        symlinkPath="/home/u/.config/sops-nix/secrets",
        secrets=[nix_secret(path="%r/x%%r", sopsFile="%r/keep")],
    )
    manifest = parse(document, environ={"XDG_RUNTIME_DIR": "/run/user/1000"})
    assert manifest.user_mode
    assert manifest.mount_point == "/run/user/1000/secrets.d"
    assert manifest.secrets[0].path == "/run/user/1000/x%r"
    assert manifest.secrets[0].sops_file.endswith("%r/keep")  # not substituted
    assert replace_runtime_dir("%%r%r%%%r", "R") == "%rR%R"


def test_user_mode_without_a_runtime_directory() -> None:
    document = nix_manifest(userMode=True, secretsMountPoint="%r/secrets.d")
    (message,) = problems_of(document, environ={})
    assert "cannot figure out runtime directory: $XDG_RUNTIME_DIR is not set" in message
    # the check modes carry on with %r as ""
    with pytest.raises(ProblemsError, match="must be an absolute path"):
        parse(dict(document, secretsMountPoint="%rsecrets.d"), environ={}, check_only=True)
    assert parse(document, environ={}, check_only=True).mount_point == "/secrets.d"


@pytest.mark.parametrize("mode", ["0400", "400", "0640", "0", "777", "0000777"])
def test_valid_modes(mode: str) -> None:
    assert parse({"secrets": [nix_secret(mode=mode)]}).secrets[0].mode == int(mode, 8)


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        ("", "invalid number in mode"),
        ("0o400", "invalid number in mode"),
        ("rw", "invalid number in mode"),
        ("999", "invalid number in mode"),
        ("+400", "invalid number in mode"),
        ("200000", "invalid number in mode"),
        ("4755", "setuid, setgid or sticky"),
        ("1777", "setuid, setgid or sticky"),
        ("177777", "not a file permission mode"),
    ],
)
def test_invalid_modes(mode: str, fragment: str) -> None:
    (message,) = problems_of({"secrets": [nix_secret(mode=mode)]})
    assert message.startswith(f"{PATH}: secrets[0] (test_key).mode: ")
    assert fragment in message


@pytest.mark.parametrize("fmt", ["yaml", "json", "binary", "dotenv", "ini"])
def test_known_formats(fmt: str) -> None:
    key = "test_key" if fmt in ("yaml", "json") else "x"
    assert parse({"secrets": [nix_secret(format=fmt, key=key)]}).secrets[0].format.value == fmt


@pytest.mark.parametrize("fmt", ["JSON", "YAML", "toml", "Yaml"])
def test_unknown_formats_are_errors(fmt: str) -> None:
    # sops-nix silently reads these as yaml; secretsctl refuses them.
    (message,) = problems_of({"secrets": [nix_secret(format=fmt)]})
    assert f"unsupported format {fmt} for secret test_key" in message


def test_key_sops_is_refused() -> None:
    (message,) = problems_of({"secrets": [nix_secret(key="sops")]})
    assert "metadata" in message
    assert parse({"secrets": [nix_secret(key="sops", format="binary")]}).secrets[0].key == "sops"


def test_placeholders_must_cover_every_secret_when_templates_exist() -> None:
    document = nix_manifest(secrets=[nix_secret(), nix_secret(name="other", key="other")])
    (message,) = problems_of(document)
    assert message == f"{PATH}: secrets[1] (other): placeholder for other not found in manifest"
    # without templates, no placeholder is needed
    assert parse(dict(document, templates=[])).secrets[1].name == "other"


def test_placeholders_are_looked_up_by_name_not_attribute() -> None:
    document = nix_manifest(secrets=[nix_secret(name="renamed")])
    assert "placeholder for renamed not found" in problems_of(document)[0]


def test_gnupg_home_is_exclusive() -> None:
    messages = problems_of(nix_manifest(gnupgHome="/g", sshKeyPaths=["/k"]))
    assert messages == [
        f"{PATH}: gnupgHome and sshKeyPaths were specified in the manifest. Both options are"
        " mutually exclusive.",
        f"{PATH}: gnupgHome and ageKeyFile were specified in the manifest. Both options are"
        " mutually exclusive.",
    ]
    manifest = parse(nix_manifest(gnupgHome="/g", ageKeyFile=None, ageSshKeyPaths=["/e"]))
    assert manifest.keys.gnupg_home == "/g"
    assert manifest.keys.age_ssh_key_paths == ("/e",)


def test_formats_must_agree_per_file() -> None:
    document = {"secrets": [nix_secret(), nix_secret(name="b", key="b", format="json")]}
    (message,) = problems_of(document)
    assert "secret b defined the format of /nix/store/y-secrets.yaml as json, but it was" in message
    assert "specified as yaml in test_key before" in message


def test_every_problem_is_collected() -> None:
    template = dict(nix_manifest()["templates"][0], content="", file="", name="t")
    document = nix_manifest(
        secrets=[
            nix_secret(mode="9"),
            nix_secret(name="../up", key="k", format="XML"),
            nix_secret(name="test_key", owner=3),
        ],
        templates=[template],
        keepGenerations=-1,
        gnupgHome="/g",
    )
    messages = problems_of(document)
    expected = [
        "secrets[0] (test_key).mode: invalid number in mode: 9",
        "secrets[1] (../up).name: the name must not have empty, '.' or '..' parts",
        "secrets[1] (../up).format: unsupported format XML",
        "secrets[2] (test_key).owner: cannot unmarshal number into a string",
        "templates[0] (t): neither content nor file was specified for template t",
        "keepGenerations: must not be negative",
        "gnupgHome and ageKeyFile were specified",
        "placeholder for ../up not found",
        "secrets[2] (test_key).name: a second secret named test_key",
    ]
    for fragment in expected:
        assert any(fragment in message for message in messages), (fragment, messages)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"secrets": {"a": 1}}, "secrets: cannot unmarshal object into a list"),
        ({"secrets": [1]}, "secrets[0]: cannot unmarshal number into an object"),
        ({"useTmpfs": "yes"}, "useTmpfs: cannot unmarshal string into a bool"),
        ({"keepGenerations": 1.5}, "keepGenerations: cannot unmarshal number 1.5 into an int"),
        ({"keepGenerations": 2**63}, "out of range"),
        ({"ageSshKeyPaths": [1]}, "ageSshKeyPaths: cannot unmarshal number into a string"),
        ({"secrets": [nix_secret(uid=-5)]}, "uid: -5 is not a valid id"),
        ({"secrets": [nix_secret(restartUnits=["a b"])]}, "not a unit name"),
        ({"logging": {"keyImport": 1}}, "logging.keyImport: cannot unmarshal number"),
        ({"placeholderBySecretName": {"a": 1}}, "non-string value"),
    ],
)
def test_wrong_json_types_are_problems(document: dict[str, Any], fragment: str) -> None:
    messages = problems_of(document)
    assert any(fragment in message for message in messages), messages


def test_not_json() -> None:
    with pytest.raises(ManifestError, match=rf"{PATH}:1:2: failed to parse manifest: "):
        parse_manifest("{x", PATH)
    with pytest.raises(ManifestError, match="failed to parse manifest: cannot unmarshal array"):
        parse_manifest("[]", PATH)
    with pytest.raises(ProblemsError, match="secretsMountPoint: must be an absolute path"):
        parse_manifest("null", PATH)  # Go decodes null into the zero manifest


def test_load_manifest_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(nix_manifest()))
    assert load_manifest(path).source == str(path)
    with pytest.raises(ManifestError, match="failed to open manifest"):
        load_manifest(tmp_path / "missing.json")


def test_no_message_quotes_a_placeholder_value_or_template() -> None:
    secret_text = "hunter2-SECRET-TEXT"
    template = dict(nix_manifest()["templates"][0], content=secret_text, mode="x")
    messages = problems_of(nix_manifest(templates=[template]))
    assert all(secret_text not in message for message in messages)


# --- runtime paths: '..' refused, the rest normalised (issue 16) -------------------------------

PARENT_REFUSED = "must not have '..' components (a runtime path may not climb out of its folder)"


@pytest.mark.parametrize("path", ["/../../../../tmp/x", "/run/secrets.d/../../etc/x", "/a/.."])
def test_a_runtime_path_with_a_parent_component_is_refused(path: str) -> None:
    template = nix_manifest()["templates"][0]
    document = nix_manifest(
        secretsMountPoint=path,
        symlinkPath=path,
        secrets=[nix_secret(path=path)],
        templates=[{**template, "path": path}],
    )
    with pytest.raises(ProblemsError) as caught:
        parse_manifest(json.dumps(document), PATH)
    assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG
    assert [p.message for p in caught.value.problems] == [
        f"{PATH}: secretsMountPoint: {PARENT_REFUSED}",
        f"{PATH}: symlinkPath: {PARENT_REFUSED}",
        f"{PATH}: secrets[0] (test_key).path: {PARENT_REFUSED}",
        f"{PATH}: templates[0] (t).path: {PARENT_REFUSED}",
    ]
    assert caught.value.hint is not None
    assert "without '..'" in caught.value.hint


def test_a_parent_component_from_the_runtime_directory_is_refused() -> None:
    document = nix_manifest(userMode=True, secretsMountPoint="%r/secrets.d")
    messages = problems_of(document, environ={"XDG_RUNTIME_DIR": "/run/user/1000/../0"})
    assert f"{PATH}: secretsMountPoint: {PARENT_REFUSED}" in messages


def test_runtime_paths_are_normalised() -> None:
    document = nix_manifest(
        secretsMountPoint="/run//secrets.d/",
        symlinkPath="/run/./secrets",
        secrets=[nix_secret(path="/var/lib//app/./k")],
    )
    manifest = parse_manifest(json.dumps(document), PATH)
    assert (manifest.mount_point, manifest.symlink_path) == ("/run/secrets.d", "/run/secrets")
    assert manifest.secrets[0].path == "/var/lib/app/k"
