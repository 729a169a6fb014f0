"""Every command with `--keyservice`, against the real `sops keyservice` holding the key.

secretsctl runs with an empty HOME and no SOPS_AGE_* variable: the age key lives only in the
server's environment, so each file opened here was opened by the server. Real sops (with
the key, or as a key service client itself) judges what secretsctl writes and prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from tests.activate_support import Systemctl
from tests.cli.test_edit import make_editor
from tests.cli.test_render import assert_no_leak, fragments, holds, isolated, make_cli
from tests.conftest import SECRETSCTL, Runner, Sops, make_age_key, sops_binary
from tests.keyservice_support import HungServer, Remote, remote, running_server

__all__ = ["remote"]

pytestmark = pytest.mark.interop

VALUE = "pw-6f0e2d-only-the-server-opens"
NEW_VALUE = "pw-91aa47-written-through-it"
PLAIN = f"user: admin\npassword: {VALUE}\n".encode()
HANG_GUARD = 120  # seconds; a hang guard, not a timing


def server_sops(remote: Remote) -> Sops:
    """The real sops with the server's key: the judge of what secretsctl writes."""
    return Sops(sops_binary(), remote.key)


def sops_file(remote: Remote, folder: Path, name: str = "secrets.yaml") -> Path:
    source = folder / f"plain-{name}"
    source.write_bytes(PLAIN)
    out = server_sops(remote).run(
        "encrypt", "--age", remote.key.recipient, "--filename-override", name, str(source)
    )
    assert out.returncode == 0, out.stderr.decode()
    source.unlink()
    target = folder / name
    target.write_bytes(out.stdout)
    return target


def run(secretsctl: Runner, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    return secretsctl(*args, env=env)


def one_error(stderr: bytes) -> str:
    """The single `secretsctl: error:` line (details may follow it, indented)."""
    text = stderr.decode()
    assert "Traceback" not in text
    assert VALUE not in text, "a value was printed"
    assert NEW_VALUE not in text, "a value was printed"
    errors = [line for line in text.splitlines() if line.startswith("secretsctl: error: ")]
    assert len(errors) == 1, text
    return text


# --- decrypt ------------------------------------------------------------------------------------


@pytest.mark.parametrize("network", ["unix", "tcp"])
def test_decrypt_with_no_local_key_prints_what_sops_as_a_client_prints(
    secretsctl: Runner, remote: Remote, tmp_path: Path, network: str
) -> None:
    path = sops_file(remote, tmp_path)
    uri = remote.unix if network == "unix" else remote.tcp
    ours = run(secretsctl, "decrypt", "--keyservice", uri, str(path))
    assert ours.returncode == 0, ours.stderr.decode()
    theirs = subprocess.run(
        [
            sops_binary(),
            "decrypt",
            "--enable-local-keyservice=false",
            "--keyservice",
            uri,
            str(path),
        ],
        capture_output=True,
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]},
        check=False,
    )
    assert theirs.returncode == 0, theirs.stderr.decode()
    same = ours.stdout == theirs.stdout == PLAIN
    assert same, "secretsctl and sops print different plaintext"


def test_sops_keyservice_variable_lists_services_in_order(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    path = sops_file(remote, tmp_path)
    listed = f"unix://{tmp_path}/dead.sock, {remote.unix}"
    done = run(secretsctl, "decrypt", str(path), SOPS_KEYSERVICE=listed)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == PLAIN, "wrong plaintext"


def test_without_the_local_service_a_local_key_is_not_used(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    path = sops_file(remote, tmp_path)
    key = {"SOPS_AGE_KEY_FILE": str(remote.key.key_file)}
    assert run(secretsctl, "decrypt", str(path), **key).returncode == 0
    for args, env in (
        (("--enable-local-keyservice=false",), key),
        (("--enable-local-keyservice=0",), key),
        (("--disable-local-keyservice",), key),
        ((), {**key, "SOPS_ENABLE_LOCAL_KEYSERVICE": "false"}),
        ((), {**key, "SOPS_ENABLE_LOCAL_KEYSERVICE": ""}),  # set but empty: false, as in sops
    ):
        done = run(secretsctl, "decrypt", *args, str(path), **env)
        assert done.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY, (args, env)
        text = one_error(done.stderr)
        assert "local key service: disabled" in text
        assert done.stdout == b""
    # The option wins over the variable.
    env = {**key, "SOPS_ENABLE_LOCAL_KEYSERVICE": "false"}
    done = run(secretsctl, "decrypt", "--enable-local-keyservice", str(path), **env)
    assert done.returncode == 0, done.stderr.decode()


def test_a_bad_boolean_is_a_usage_error(secretsctl: Runner, tmp_path: Path) -> None:
    done = run(secretsctl, "decrypt", "--enable-local-keyservice=maybe", "x.yaml")
    assert done.returncode == 2
    assert done.stderr.decode().startswith(
        "secretsctl: error: invalid boolean value 'maybe' for --enable-local-keyservice"
    )
    done = run(secretsctl, "decrypt", "x.yaml", SOPS_ENABLE_LOCAL_KEYSERVICE="maybe")
    assert done.returncode == 1
    assert "SOPS_ENABLE_LOCAL_KEYSERVICE" in one_error(done.stderr)


def test_a_dead_socket_is_one_error_naming_the_uri(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    path = sops_file(remote, tmp_path)
    dead = f"unix://{tmp_path}/nobody.sock"
    done = subprocess.run(
        [SECRETSCTL, "decrypt", "--enable-local-keyservice=false", "--keyservice", dead, str(path)],
        capture_output=True,
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]},
        timeout=HANG_GUARD,
        check=False,
    )
    assert done.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY
    text = one_error(done.stderr)
    assert f"    {dead}: Unavailable: " in text
    assert f"secretsctl: hint: no key service answered at {dead}: is `sops keyservice`" in text


def test_a_stuck_server_ends_at_the_deadline(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    path = sops_file(remote, tmp_path)
    stuck = HungServer(tmp_path / "stuck.sock")
    try:
        done = subprocess.run(
            [
                SECRETSCTL,
                "decrypt",
                "--disable-local-keyservice",
                "--keyservice",
                stuck.uri,
                str(path),
            ],
            capture_output=True,
            env={
                "PATH": os.environ["PATH"],
                "HOME": os.environ["HOME"],
                "SECRETSCTL_KEYSERVICE_TIMEOUT": "1",
            },
            timeout=HANG_GUARD,
            check=False,
        )
    finally:
        stuck.close()
    assert done.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY
    assert f"    {stuck.uri}: DeadlineExceeded" in one_error(done.stderr)


def test_a_server_that_answers_an_error_is_named(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    path = sops_file(remote, tmp_path)
    with running_server(tmp_path / "keyless", None) as keyless:
        done = run(secretsctl, "decrypt", "--keyservice", keyless, str(path))
    assert done.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY
    text = one_error(done.stderr)
    assert f"    {keyless}: Unknown: " in text
    assert "  key locations:" in text  # the local service was tried first


def test_a_uri_sops_cannot_dial_is_a_warning_and_skipped(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    path = sops_file(remote, tmp_path)
    done = run(
        secretsctl, "decrypt", "--keyservice", "udp://x:1", "--keyservice", remote.unix, str(path)
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr.decode() == (
        "secretsctl: warning: key service `udp://x:1` cannot be used: unsupported scheme 'udp'"
        " (sops's key service listens on unix or tcp)\n"
    )


def test_without_grpc_a_key_service_is_exit_1_with_the_install_hint(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    path = sops_file(remote, tmp_path)
    hide = tmp_path / "no-grpc"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['grpc'] = None\n")
    done = run(secretsctl, "decrypt", "--keyservice", remote.unix, str(path), PYTHONPATH=str(hide))
    assert done.returncode == 1
    lines = one_error(done.stderr).splitlines()
    assert lines[0].startswith("secretsctl: error: the key service client (grpcio, protobuf)")
    assert lines[1].startswith("secretsctl: hint: pip install 'secretsctl[keyservice]'")
    # Without a key service nothing needs grpc.
    local = run(
        secretsctl, "decrypt", str(path), PYTHONPATH=str(hide),
        SOPS_AGE_KEY_FILE=str(remote.key.key_file),
    )  # fmt: skip
    assert local.returncode == 0, local.stderr.decode()


_LIST_MODULES = """
import os, sys
end = os._exit
def report(code):
    sys.stdout.flush()
    sys.stderr.write("modules: " + " ".join(sorted(sys.modules)) + "\\n")
    sys.stderr.flush()
    end(code)
os._exit = report
sys.argv = ["secretsctl", *sys.argv[1:]]
from secretsctl.cli import main
main()
"""


def modules_loaded(*args: str, **env: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, *args],
        capture_output=True,
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    (line,) = [x for x in done.stderr.decode().splitlines() if x.startswith("modules: ")]
    return set(line.split()[1:])


def test_plain_decrypt_imports_no_grpc_nor_protobuf(remote: Remote, tmp_path: Path) -> None:
    path = sops_file(remote, tmp_path)
    heavy = {"grpc", "google.protobuf", "secretsctl.keyservice.client"}
    plain = modules_loaded("decrypt", str(path), SOPS_AGE_KEY_FILE=str(remote.key.key_file))
    assert not plain & heavy, sorted(plain & heavy)
    assert not any(name.startswith(("grpc.", "google.")) for name in plain)
    # With a key service that is not needed (the local key opens first) grpc is not loaded.
    unasked = modules_loaded(
        "decrypt",
        "--keyservice",
        remote.unix,
        str(path),
        SOPS_AGE_KEY_FILE=str(remote.key.key_file),
    )
    assert "grpc" not in unasked
    asked = modules_loaded("decrypt", "--keyservice", remote.unix, str(path))
    assert {"grpc", "google.protobuf"} <= asked


# --- encrypt, edit, set, unset, updatekeys, rotate --------------------------------------------


def test_encrypt_through_the_server_alone(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_bytes(PLAIN)
    done = run(
        secretsctl, "encrypt", "--enable-local-keyservice=false", "--keyservice", remote.tcp,
        "--age", remote.key.recipient, str(plain),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    encrypted = tmp_path / "secrets.yaml"
    encrypted.write_bytes(done.stdout)
    opened = server_sops(remote).run("decrypt", str(encrypted))
    assert opened.returncode == 0, opened.stderr.decode()
    assert opened.stdout == PLAIN, "sops reads other plaintext"


def test_encrypt_with_no_service_at_all_is_refused(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_bytes(PLAIN)
    done = run(
        secretsctl, "encrypt", "--enable-local-keyservice=false", "--age", remote.key.recipient,
        str(plain),
    )  # fmt: skip
    assert done.returncode == 1
    assert "no key services to encrypt the data key with" in one_error(done.stderr)
    assert done.stdout == b""


def test_edit_through_the_server(secretsctl: Runner, remote: Remote, tmp_path: Path) -> None:
    path = sops_file(remote, tmp_path)
    editor = make_editor(
        tmp_path,
        f'open(path, "wb").write(data.replace(b"{VALUE}", b"{NEW_VALUE}"))\n',
    )
    env = {"SOPS_EDITOR": str(editor), "EDIT_RECORD": str(tmp_path / "record.json")}
    done = run(secretsctl, "edit", "--keyservice", remote.unix, str(path), **env)
    assert done.returncode == 0, done.stderr.decode()
    opened = server_sops(remote).run("decrypt", str(path))
    assert opened.returncode == 0, opened.stderr.decode()
    assert opened.stdout == PLAIN.replace(VALUE.encode(), NEW_VALUE.encode()), "edit lost"


def test_edit_of_a_new_file_wraps_through_the_server(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    editor = make_editor(tmp_path, f'open(path, "wb").write(b"password: {NEW_VALUE}\\n")\n')
    env = {"SOPS_EDITOR": str(editor), "EDIT_RECORD": str(tmp_path / "record.json")}
    path = tmp_path / "new.yaml"
    done = run(
        secretsctl, "edit", "--enable-local-keyservice=false", "--keyservice", remote.unix,
        "--age", remote.key.recipient, str(path), **env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    opened = server_sops(remote).run("decrypt", str(path))
    assert opened.stdout == f"password: {NEW_VALUE}\n".encode(), "the new file does not open"


def test_set_and_unset_through_the_server(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    path = sops_file(remote, tmp_path)
    done = run(
        secretsctl, "set", "--keyservice", remote.unix, str(path), '["password"]', f'"{NEW_VALUE}"'
    )
    assert done.returncode == 0, done.stderr.decode()
    done = run(secretsctl, "unset", "--keyservice", remote.unix, str(path), '["user"]')
    assert done.returncode == 0, done.stderr.decode()
    opened = server_sops(remote).run("decrypt", str(path))
    assert opened.stdout == f"password: {NEW_VALUE}\n".encode(), "set or unset lost"


def test_updatekeys_through_the_server(secretsctl: Runner, remote: Remote, tmp_path: Path) -> None:
    path = sops_file(remote, tmp_path)
    second = make_age_key(tmp_path, "second.txt")
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - age: {remote.key.recipient},{second.recipient}\n"
    )
    done = secretsctl(
        "updatekeys", "-y", "--enable-local-keyservice=false", "--keyservice", remote.unix,
        path.name, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    with_second = Sops(sops_binary(), second).run("decrypt", str(path))
    assert with_second.returncode == 0, with_second.stderr.decode()
    assert with_second.stdout == PLAIN, "the added recipient reads other plaintext"


def test_rotate_through_the_server(secretsctl: Runner, remote: Remote, tmp_path: Path) -> None:
    path = sops_file(remote, tmp_path)
    before = path.read_bytes()
    done = run(
        secretsctl, "rotate", "-i", "--enable-local-keyservice=false", "--keyservice", remote.tcp,
        str(path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    after = path.read_bytes()
    assert after != before
    opened = server_sops(remote).run("decrypt", str(path))
    assert opened.stdout == PLAIN, "the rotated file reads other plaintext"


def test_a_failing_change_changes_nothing(
    secretsctl: Runner, remote: Remote, tmp_path: Path
) -> None:
    path = sops_file(remote, tmp_path)
    before = path.read_bytes()
    dead = f"unix://{tmp_path}/nobody.sock"
    for args in (
        ("rotate", "-i", "--disable-local-keyservice", "--keyservice", dead, str(path)),
        ("set", "--disable-local-keyservice", "--keyservice", dead, str(path), '["a"]', "1"),
    ):
        done = run(secretsctl, *args)
        assert done.returncode == ExitCode.COULD_NOT_RETRIEVE_KEY, args
        assert dead in one_error(done.stderr)
        assert path.read_bytes() == before, "the file changed"


# --- render, check and activate with defaults.keyservices ---------------------------------------


def config_for(remote: Remote, folder: Path, *, local: bool = False, uri: str = "") -> Path:
    sops_file(remote, folder)
    config = folder / "secretsctl.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            defaults:
              sops_file: secrets.yaml
              keyservices:
                - "{uri or remote.unix}"
              enable_local_keyservice: {"true" if local else "false"}
            secrets:
              password: {{}}
            """
        )
    )
    return config


def test_render_and_check_decrypt_with_no_key_on_the_host(remote: Remote, tmp_path: Path) -> None:
    config = config_for(remote, tmp_path)
    cli = make_cli(tmp_path / "home")
    root = ("-m", str(config), "--root", str(tmp_path / "root"))
    plan = cli("render", "--dry-run", *root)
    assert plan.returncode == 0, plan.stderr
    assert "/run/secrets/password" in plan.stdout
    checked = cli("check", *root)
    assert checked.returncode == 0, checked.stderr
    assert_no_leak("".join(cli.outputs), fragments([VALUE]))


def test_activate_decrypts_with_no_key_on_the_host(
    remote: Remote, tmp_path: Path, systemctl: Systemctl
) -> None:
    config = config_for(remote, tmp_path)
    cli = make_cli(tmp_path / "home", systemctl)
    root = tmp_path / "root"

    def body() -> None:
        done = cli("activate", "-m", str(config), "--root", str(root))
        assert done.returncode == 0, done.stderr
        holds(root / "run/secrets/password", VALUE)

    isolated(body)
    assert_no_leak("".join(cli.outputs), fragments([VALUE]))


def test_activate_with_a_dead_service_changes_nothing(
    remote: Remote, tmp_path: Path, systemctl: Systemctl
) -> None:
    dead = f"unix://{tmp_path}/nobody.sock"
    config = config_for(remote, tmp_path, uri=dead)
    cli = make_cli(tmp_path / "home", systemctl)
    root = tmp_path / "root"

    def body() -> None:
        done = cli("activate", "-m", str(config), "--root", str(root))
        assert done.returncode != 0
        assert f"{dead}: Unavailable" in done.stderr
        assert not os.path.lexists(root / "run/secrets")

    isolated(body)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('  keyservices: ["udp://x:1"]', "5:17: defaults.keyservices: `udp://x:1`: unsupported"),
        ("  keyservices: unix:///x", "5:16: defaults.keyservices: expected a list of key service"),
        ("  enable_local_keyservice: no", "5:28: defaults.enable_local_keyservice: expected true"),
    ],
)
def test_configuration_errors_name_file_line_and_column(
    tmp_path: Path, line: str, message: str
) -> None:
    from secretsctl.config.load import parse_config
    from secretsctl.errors import ProblemsError

    head = "defaults:\n  sops_file: s.yaml\n  age_key_file: k.txt\n  format: yaml\n"
    text = f"{head}{line}\nsecrets:\n  a: {{}}\n"
    path = str(tmp_path / "secretsctl.yaml")
    with pytest.raises(ProblemsError) as caught:
        parse_config(text, path)
    (problem,) = caught.value.problems
    assert problem.message.startswith(f"{path}:{message}"), problem.message


def test_the_configuration_reads_both_fields(tmp_path: Path) -> None:
    from secretsctl.config.load import parse_config

    text = (
        "defaults:\n  sops_file: s.yaml\n  keyservices:\n    - unix:///run/ks.sock\n"
        '    - "tcp://10.0.0.1:5000"\n  enable_local_keyservice: false\nsecrets:\n  a: {}\n'
    )
    keys = parse_config(text, str(tmp_path / "c.yaml")).keys
    assert keys.keyservices == ("unix:///run/ks.sock", "tcp://10.0.0.1:5000")
    assert keys.enable_local_keyservice is False
    default = parse_config("defaults: {sops_file: s.yaml}\nsecrets:\n  a: {}\n", "/c.yaml").keys
    assert (default.keyservices, default.enable_local_keyservice) == ((), True)


def test_render_without_key_services_imports_nothing_of_them(
    remote: Remote, tmp_path: Path
) -> None:
    """The boot path: a configuration without keyservices loads no key service module."""
    sops_file(remote, tmp_path)
    config = tmp_path / "secretsctl.yaml"
    config.write_text(
        f"defaults:\n  sops_file: secrets.yaml\n  age_key_file: {remote.key.key_file}\n"
        "secrets:\n  password: {}\n"
    )
    args = ("render", "--dry-run", "-m", str(config), "--root", str(tmp_path / "root"))
    loaded = modules_loaded(*args)
    assert not {m for m in loaded if m.startswith(("grpc", "google", "secretsctl.keyservice"))}
    config.write_text(
        config.read_text().replace("secrets:", f'  keyservices: ["{remote.unix}"]\nsecrets:')
    )
    assert "secretsctl.keyservice.client" in modules_loaded(*args)
    assert "grpc" not in modules_loaded(*args)  # the local key opened the file
