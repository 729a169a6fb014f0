"""secretsctl.yaml: the schema, its defaults, and one clear line per problem."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from secretsctl.config.load import load_config, parse_config
from secretsctl.config.model import (
    KeySettings,
    Ownership,
    SecretSpec,
    TemplateEngine,
)
from secretsctl.errors import ExitCode, ManifestError, ProblemsError
from secretsctl.sops.stores import Format

CONFIG = "/etc/secretsctl/secretsctl.yaml"


def parse(text: str, path: str = CONFIG):  # type: ignore[no-untyped-def]
    return parse_config(textwrap.dedent(text), path)


def problems_of(text: str, path: str = CONFIG) -> list[str]:
    with pytest.raises(ProblemsError) as caught:
        parse(text, path)
    assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG
    return [problem.message for problem in caught.value.problems]


def test_a_full_configuration() -> None:
    manifest = parse(
        """\
        defaults:
          sops_file: secrets.yaml
          format: yaml
          age_key_file: keys/age.txt
          ssh_key_paths: [/etc/ssh/ssh_host_ed25519_key, host_key]
          mount_point: /run/s.d
          symlink_path: /run/s
          keep_generations: 3
          use_tmpfs: true
          owner: alice
          mode: "0440"
        secrets:
          github_token: {}
          db/password:
            key: db/pw
            sops_file: /srv/db.json
            format: json
            uid: 1000
            gid: 100
            mode: 0400
            path: /etc/db/password
            restart_units: [postgresql.service]
            reload_units:
              - nginx.service
          blob: {format: binary, sops_file: blob.bin}
        templates:
          env: {content: "A={{ github_token }}\\n", group: wheel, mode: 0o600}
        """
    )
    token, db, blob = manifest.secrets
    assert token == SecretSpec(
        name="github_token",
        sops_file="/etc/secretsctl/secrets.yaml",
        key="github_token",
        format=Format.YAML,
        ownership=Ownership(owner="alice"),
        mode=0o440,
        origin=token.origin,
    )
    assert token.origin.line == 13 and token.origin.column == 3
    assert db.key == "db/pw" and db.format is Format.JSON and db.sops_file == "/srv/db.json"
    assert db.ownership == Ownership(owner=None, uid=1000, group=None, gid=100)
    assert db.mode == 0o400 and db.path == "/etc/db/password"
    assert db.restart_units == ("postgresql.service",) and db.reload_units == ("nginx.service",)
    assert blob.key == "" and blob.format is Format.BINARY
    assert blob.sops_file == "/etc/secretsctl/blob.bin"
    (env,) = manifest.templates
    assert env.text == "A={{ github_token }}\n" and env.engine is TemplateEngine.JINJA
    assert env.source is None
    # owner from the defaults, group from the template: each pair on its own
    assert env.ownership == Ownership(owner="alice", group="wheel")
    assert env.mode == 0o600
    assert manifest.keys == KeySettings(
        age_key_file="/etc/secretsctl/keys/age.txt",
        age_ssh_key_paths=("/etc/ssh/ssh_host_ed25519_key", "/etc/secretsctl/host_key"),
    )
    assert (manifest.mount_point, manifest.symlink_path) == ("/run/s.d", "/run/s")
    assert manifest.keep_generations == 3 and manifest.use_tmpfs is True
    assert manifest.source == CONFIG
    assert not manifest.keys.use_environment


def test_defaults_of_an_almost_empty_configuration() -> None:
    manifest = parse("secrets:\n  a:\n    sops_file: s.yaml\n")
    (spec,) = manifest.secrets
    assert spec.ownership == Ownership() and spec.mode == 0o400 and spec.key == "a"
    assert manifest.mount_point == "/run/secrets.d" and manifest.symlink_path == "/run/secrets"
    assert manifest.keep_generations == 1 and manifest.use_tmpfs is False
    assert manifest.keys == KeySettings()


@pytest.mark.parametrize(
    ("written", "mode"),
    [("0440", 0o440), ('"0440"', 0o440), ("440", 0o440), ("'600'", 0o600), ("0o640", 0o640),
     ("0", 0), ("0777", 0o777), ("00400", 0o400)],
)  # fmt: skip
def test_modes_are_read_from_their_written_digits(written: str, mode: int) -> None:
    manifest = parse(f"defaults: {{sops_file: s.yaml}}\nsecrets:\n  a: {{mode: {written}}}\n")
    assert manifest.secrets[0].mode == mode


def test_nulls_mean_the_default() -> None:
    manifest = parse("defaults: {sops_file: s.yaml, mode: '0440'}\nsecrets:\n  a:\n    mode: ~\n")
    assert manifest.secrets[0].mode == 0o440


def test_template_sources_resolve_against_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x.j2").write_text("X={{ a }}\n")
    config = tmp_path / "conf" / "secretsctl.yaml"
    config.parent.mkdir()
    config.write_text(
        "defaults: {sops_file: s.yaml}\nsecrets: {a: {}}\n"
        "templates:\n  x: {source: ../t/x.j2}\n  y: {source: ../t/x.j2}\n"
    )
    manifest = load_config(config)
    x, y = manifest.templates
    assert x.text == y.text == "X={{ a }}\n"
    assert x.source == str(tmp_path / "t" / "x.j2")


def test_secret_names_under_rendered_clash_only_with_templates() -> None:
    manifest = parse("defaults: {sops_file: s.yaml}\nsecrets: {rendered/x: {}}\n")
    assert manifest.secrets[0].name == "rendered/x"
    (message,) = problems_of(
        "defaults: {sops_file: s.yaml}\nsecrets: {rendered/x: {}}\ntemplates: {t: {content: x}}\n"
    )
    assert "collides with the rendered/ directory" in message


# Each case: the configuration; the line and the text the problem points at (its first
# occurrence on that line gives the column); the field; a fragment of the message.
ERROR_CASES = [
    ("secrets:\n  a: {sops_file: s.yaml, ownr: x}\n", 2, "ownr", "secrets.a.ownr", "did you mean `owner`"),
    ("defaults:\n  sops_fle: s.yaml\n", 2, "sops_fle", "defaults.sops_fle", "did you mean `sops_file`"),
    ("top: 1\n", 1, "top", "(top level).top", "unknown field"),
    ("secrets:\n  a: {sops_file: s, mode: 4755}\n", 2, "4755", "secrets.a.mode", "setuid, setgid or sticky"),
    ("secrets:\n  a: {sops_file: s, mode: 1777}\n", 2, "1777", "secrets.a.mode", "setuid, setgid or sticky"),
    ("secrets:\n  a: {sops_file: s, mode: 17777}\n", 2, "17777", "secrets.a.mode", "not a file permission"),
    ("secrets:\n  a: {sops_file: s, mode: rw}\n", 2, "rw", "secrets.a.mode", "not an octal mode"),
    ("secrets:\n  a: {sops_file: s, mode: 0648}\n", 2, "0648", "secrets.a.mode", "not an octal mode"),
    ("secrets:\n  a: {sops_file: s, mode: [1]}\n", 2, "[1]", "secrets.a.mode", "found a list"),
    ("secrets:\n  a: {sops_file: s, format: JSON}\n", 2, "JSON", "secrets.a.format", "unknown format `JSON`"),
    ("secrets:\n  a: {sops_file: s, format: toml}\n", 2, "toml", "secrets.a.format", "unknown format"),
    ("secrets:\n  a: {sops_file: s, owner: 1000}\n", 2, "1000", "secrets.a.owner", "use uid"),
    ("secrets:\n  a: {sops_file: s, owner: x, uid: 1}\n", 2, "1}", "secrets.a.uid", "not both"),
    ("secrets:\n  a: {sops_file: s, group: x, gid: 1}\n", 2, "1}", "secrets.a.gid", "not both"),
    ("secrets:\n  a: {sops_file: s, uid: -1}\n", 2, "-1", "secrets.a.uid", "negative"),
    ("secrets:\n  a: {sops_file: s, uid: 4294967295}\n", 2, "4294967295", "secrets.a.uid", "out of range"),
    ("secrets:\n  a: {sops_file: s, gid: '0100'}\n", 2, "'0100'", "secrets.a.gid", "leading zeros"),
    ("secrets:\n  a: {sops_file: s, key: sops}\n", 2, "sops}", "secrets.a.key", "metadata"),
    ("secrets:\n  a: {sops_file: s, key: sops/version}\n", 2, "sops/", "secrets.a.key", "metadata"),
    ("secrets:\n  a: {sops_file: s, format: ini, key: x}\n", 2, "x}", "secrets.a.key", "an ini secret is always the whole file"),
    ("secrets:\n  a: {sops_file: s, key: 12}\n", 2, "12", "secrets.a.key", "quote it"),
    ("secrets:\n  a: {sops_file: s, path: rel}\n", 2, "rel", "secrets.a.path", "absolute"),
    ("secrets:\n  a: {sops_file: s, restart_units: x.service}\n", 2, "x.service", "secrets.a.restart_units", "list of unit names"),
    ("secrets:\n  a: {sops_file: s, reload_units: ['a b']}\n", 2, "'a b'", "secrets.a.reload_units", "not a unit name"),
    ("secrets:\n  a: {}\n", 2, "a", "secrets.a", "no sops_file"),
    ("secrets:\n  ../a: {sops_file: s}\n", 2, "../a", "secrets.../a", "'..' parts"),
    ("secrets:\n  /a: {sops_file: s}\n", 2, "/a", "secrets./a", "relative path"),
    ("secrets:\n  a//b: {sops_file: s}\n", 2, "a//b", "secrets.a//b", "empty"),
    ("secrets:\n  a: [x]\n", 2, "[x]", "secrets.a", "mapping of settings, found a list"),
    ("secrets: [a]\n", 1, "[a]", "secrets", "mapping of names"),
    ("secrets:\n  a: {sops_file: s}\n  a: {sops_file: s}\n", 3, "a", "secrets.a", "defined twice (first at line 2)"),
    ("secrets:\n  a: {sops_file: s}\n  a/b: {sops_file: s}\n", 3, "a/b", "secrets.a/b", "'a' is a file"),
    ("defaults: {sops_file: s}\nsecrets:\n  a:\n    mode: '0400'\n    mode: '0440'\n", 5, "mode", "secrets.a.mode", "repeated (first at line 4)"),
    ("defaults: {keep_generations: x}\n", 1, "x}", "defaults.keep_generations", "whole number"),
    ("defaults: {use_tmpfs: yes}\n", 1, "yes", "defaults.use_tmpfs", "true or false"),
    ("defaults: {mount_point: run}\n", 1, "run", "defaults.mount_point", "absolute"),
    ("defaults: {ssh_key_paths: /etc/ssh/k}\n", 1, "/etc", "defaults.ssh_key_paths", "list of paths"),
    ("defaults: {format: XML}\n", 1, "XML", "defaults.format", "unknown format"),
    ("defaults:\n  <<: {a: 1}\n", 2, "<<", "defaults", "merge keys"),
    ("templates:\n  t: {}\n", 2, "t", "templates.t", "content or its source"),
    ("templates:\n  t: {content: x, source: y}\n", 2, "y}", "templates.t.source", "not both"),
    ("templates:\n  t: {content: [x]}\n", 2, "[x]", "templates.t.content", "template text"),
    ("templates:\n  t: {source: /nonexistent/t.j2}\n", 2, "/non", "templates.t.source", "cannot read /nonexistent/t.j2"),
    ("templates:\n  t: x\n", 2, "x", "templates.t", "mapping with content or source"),
    ("templates:\n  t: {content: x, format: yaml}\n", 2, "format", "templates.t.format", "unknown field"),
    ("templates:\n  t: {content: x}\n  t/u: {content: x}\n", 3, "t/u", "templates.t/u", "'t' is a file"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "needle", "field", "fragment"), ERROR_CASES)
def test_each_problem_names_file_line_column_and_field(
    text: str, line: int, needle: str, field: str, fragment: str
) -> None:
    messages = problems_of(text)
    column = text.split("\n")[line - 1].index(needle) + 1
    matching = [m for m in messages if m.startswith(f"{CONFIG}:{line}:{column}: {field}: ")]
    assert matching, messages
    assert fragment in matching[0]
    assert all("\n" not in m for m in messages)


def test_every_problem_is_reported_together_in_file_order() -> None:
    text = "".join(case[0].replace("secrets:", "").replace("templates:", "") for case in [])
    messages = problems_of(
        """\
        defaults:
          formt: yaml
        secrets:
          a: {sops_file: s, mode: 4755}
          b: {sops_file: s, owner: 1, uid: 2}
          c: {sops_file: s, format: JSON, path: x}
        templates:
          t: {}
        """
    )
    assert text == ""
    assert len(messages) == 6
    positions = [tuple(map(int, re.match(rf"{CONFIG}:(\d+):(\d+):", m).groups())) for m in messages]  # type: ignore[union-attr]
    assert positions == sorted(positions)


def test_formats_must_agree_per_sops_file() -> None:
    (message,) = problems_of("secrets:\n  a: {sops_file: s}\n  b: {sops_file: s, format: json}\n")
    assert message.startswith(f"{CONFIG}:3:29: secrets.b.format: ")
    assert "as json, but it was specified as yaml in a before" in message


def test_a_bad_format_is_reported_once() -> None:
    messages = problems_of("secrets:\n  a: {sops_file: s}\n  b: {sops_file: s, format: JSN}\n")
    assert len(messages) == 1 and "unknown format" in messages[0]


SECRETISH = "ghp_0123456789abcdefSECRET"


@pytest.mark.parametrize(
    "text",
    [
        f"secrets:\n  github_token: {SECRETISH}\n",
        f"secrets:\n  a: {{sops_file: s, ownr: {SECRETISH}}}\n",
        f"secrets:\n  a: {{sops_file: s, owner: [{SECRETISH}]}}\n",
        f"secrets:\n  a: {{sops_file: s, uid: {SECRETISH}}}\n",
        f"defaults: {{use_tmpfs: {SECRETISH}}}\n",
        f"defaults: {{keep_generations: {SECRETISH}}}\n",
        f"templates:\n  t: {SECRETISH}\n",
        f"templates:\n  t: {{content: [{SECRETISH}]}}\n",
        f"{SECRETISH}: 1\n",
    ],
)
def test_a_secret_written_into_the_configuration_is_never_echoed(text: str) -> None:
    with pytest.raises(ProblemsError) as caught:
        parse(text)
    assert SECRETISH not in caught.value.message
    assert SECRETISH[:12] not in caught.value.message


def test_yaml_syntax_errors_name_the_place() -> None:
    with pytest.raises(ManifestError) as caught:
        parse("secrets:\n  a: {b: c\n")
    assert caught.value.message.startswith(f"{CONFIG}:3:1: invalid YAML: ")
    assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG


def test_an_empty_configuration_is_an_error() -> None:
    for text in ("", "# nothing\n", "---\n"):
        with pytest.raises(ManifestError, match="the configuration is empty"):
            parse(text)


def test_the_root_must_be_a_mapping() -> None:
    assert problems_of("- a\n") == [f"{CONFIG}:1:1: (top level): expected a mapping, found a list"]


def test_load_config_reads_files(tmp_path: Path) -> None:
    config = tmp_path / "secretsctl.yaml"
    config.write_bytes(b"\xef\xbb\xbfsecrets:\n  a: {sops_file: s.yaml}\n")
    manifest = load_config(config)
    assert manifest.secrets[0].sops_file == str(tmp_path / "s.yaml")
    with pytest.raises(ManifestError, match="cannot read") as caught:
        load_config(tmp_path / "missing.yaml")
    assert caught.value.hint is not None and "--manifest" in caught.value.hint
    config.write_bytes(b"secrets:\n  a: \xff\n")
    with pytest.raises(ManifestError, match=r"secretsctl.yaml:2: the configuration is not UTF-8"):
        load_config(config)
    source = tmp_path / "t.j2"
    source.write_bytes(b"ok\n\xff\n")
    config.write_text("templates:\n  t: {source: t.j2}\n")
    with pytest.raises(ProblemsError, match=r"t.j2 is not UTF-8 text \(line 2\)"):
        load_config(config)


def test_origins_point_at_each_field() -> None:
    manifest = parse("defaults: {sops_file: s}\nsecrets:\n  a:\n    owner: bob\n    mode: '0440'\n")
    origin = manifest.secrets[0].origin
    assert origin.of("owner") == f"{CONFIG}:4:12: secrets.a.owner"
    assert origin.of("mode") == f"{CONFIG}:5:11: secrets.a.mode"
    assert origin.of("group") == f"{CONFIG}:3:3: secrets.a.group"
    assert origin.of() == f"{CONFIG}:3:3: secrets.a"
    assert dict(origin.fields) == {"owner": (4, 12), "mode": (5, 11)}


def test_crlf_and_other_shapes_go_through_libyaml() -> None:
    manifest = parse("defaults: {sops_file: s.yaml}\r\nsecrets:\r\n  a: {mode: '0440'}\r\n")
    assert manifest.secrets[0].mode == 0o440
    with pytest.raises(ManifestError, match=r"secretsctl.yaml:2:1: invalid YAML: found character"):
        parse("secrets:\n\ta: {}\n")


# --- runtime paths: '..' refused, the rest normalised (issue 16) -------------------------------

CLIMBS = ("/../../../../tmp/x", "/run/secrets.d/../../etc/x", "/var/lib/app/..")


@pytest.mark.parametrize("path", CLIMBS)
@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("secrets:\n  a: {{sops_file: s, path: '{path}'}}\n", "secrets.a.path"),
        ("templates:\n  t: {{content: x, path: '{path}'}}\n", "templates.t.path"),
        ("defaults: {{mount_point: '{path}'}}\n", "defaults.mount_point"),
        ("defaults: {{symlink_path: '{path}'}}\n", "defaults.symlink_path"),
    ],
)
def test_a_runtime_path_with_a_parent_component_is_refused(
    text: str, field: str, path: str
) -> None:
    written = text.format(path=path)
    with pytest.raises(ProblemsError) as caught:
        parse(written)
    assert caught.value.exit_code == ExitCode.ERROR_READING_CONFIG
    column = written.split("\n")[-2].index(f"'{path}'") + 1
    line = written.count("\n")
    assert [p.message for p in caught.value.problems] == [
        f"{CONFIG}:{line}:{column}: {field}: must not have '..' components (a runtime path may"
        " not climb out of its folder)"
    ]
    assert caught.value.hint is not None
    assert "without '..'" in caught.value.hint


def test_runtime_paths_are_normalised() -> None:
    manifest = parse(
        """\
        defaults: {sops_file: s, mount_point: //run//secrets.d/, symlink_path: /run/./secrets}
        secrets:
          a: {path: /var/lib/./app//a}
        """
    )
    assert manifest.mount_point == "/run/secrets.d"
    assert manifest.symlink_path == "/run/secrets"
    assert manifest.secrets[0].path == "/var/lib/app/a"
