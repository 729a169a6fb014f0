"""Key commands: ``keygen`` (new age identities) and ``ssh-to-age`` (a host's SSH key)."""

from __future__ import annotations

import sys

import click

from secretsctl.cli.app import App
from secretsctl.errors import ExitCode, InputError, UsageError


@click.command("ssh-to-age")
@click.option(
    "-i",
    "--input",
    "input_path",
    type=click.Path(dir_okay=False),
    help="Read the key from this file instead of stdin.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the result to this file (created 0600 for a private key).",
)
@click.option(
    "--private-key",
    is_flag=True,
    help="Convert an OpenSSH ed25519 private key to an AGE-SECRET-KEY identity.",
)
@click.pass_obj
def ssh_to_age(app: App, input_path: str | None, output: str | None, private_key: bool) -> None:
    """Print the age recipient of an ssh-ed25519 public key (one per line).

    With --private-key, print the age identity of an ed25519 private key instead, the same
    conversion sops-nix applies to a host's SSH key.
    """
    from secretsctl.keys import ssh_to_age as convert

    data = _read_input(input_path)
    if private_key:
        out = convert.ssh_private_key_to_age_identity(data).reveal() + "\n"
    else:
        lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
        if not lines:
            raise InputError("no SSH public key in the input")
        out = "".join(convert.ssh_public_key_to_age_recipient(line) + "\n" for line in lines)
    if output:
        from secretsctl import fsutil

        fsutil.write_atomic(output, out.encode(), mode=0o600 if private_key else None)
    else:
        sys.stdout.write(out)
        sys.stdout.flush()


@click.command("keygen")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write to this file instead of stdout: a new identity file is created 0600 and an "
    "existing file is never overwritten.",
)
@click.option(
    "-y",
    "to_recipients",
    is_flag=True,
    help="Print the recipient of each identity in INPUT (default: stdin), as age-keygen -y.",
)
@click.option(
    "--pq",
    "post_quantum",
    is_flag=True,
    help="Make a post-quantum hybrid identity (AGE-SECRET-KEY-PQ-1..., recipient age1pq1...), "
    "as age-keygen -pq.",
)
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(dir_okay=False))
def keygen(
    output: str | None, to_recipients: bool, post_quantum: bool, input_path: str | None
) -> None:
    """Make a new age identity (X25519, or post-quantum with --pq), as age-keygen writes it.

    The identity goes to stdout or to -o FILE; its public key (the recipient to put in
    .sops.yaml) is printed to stderr as well when the identity does not go to a terminal.

    \b
    Examples:
      secretsctl keygen -o ~/.config/sops/age/keys.txt
      secretsctl keygen --pq -o ~/.config/sops/age/keys.txt   # recipient: age1pq1...
      secretsctl keygen -y ~/.config/sops/age/keys.txt    # its recipient: age1...
    """
    from secretsctl.keys import keygen as keys

    if to_recipients and post_quantum:
        raise UsageError("--pq cannot be used with -y", hint="secretsctl keygen -y FILE")
    if to_recipients:
        data = _read_input(input_path)
        lines = "".join(r + "\n" for r in keys.recipients_of(data, input_path or "stdin"))
        if output:
            from secretsctl import fsutil

            fsutil.write_atomic(output, lines.encode())
        else:
            sys.stdout.write(lines)
        return
    if input_path:
        raise UsageError("an INPUT file goes with -y only", hint="secretsctl keygen -o FILE")
    key = keys.generate(post_quantum=post_quantum)
    if output:
        from secretsctl import fsutil

        fsutil.create_new(output, key.file_text.reveal().encode(), mode=0o600)
    else:
        sys.stdout.write(key.file_text.reveal())
        sys.stdout.flush()
    if output or not sys.stdout.isatty():
        sys.stderr.write(f"Public key: {key.recipient}\n")


def _read_input(input_path: str | None) -> bytes:
    from secretsctl.limits import read_file, read_stream

    try:
        if input_path:
            return read_file(input_path)
        return read_stream(sys.stdin.buffer, "<stdin>")
    except FileNotFoundError:
        raise InputError(
            f"cannot operate on non-existent file {input_path!r}",
            exit_code=ExitCode.NO_FILE_SPECIFIED,
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read {input_path}: {exc.strerror}") from None
