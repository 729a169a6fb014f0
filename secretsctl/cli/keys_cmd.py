"""``secretsctl ssh-to-age``: a host's SSH key as an age recipient or identity."""

from __future__ import annotations

import sys

import click

from secretsctl.cli.app import App
from secretsctl.errors import ExitCode, InputError


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
    from secretsctl.limits import read_file, read_stream

    try:
        data = read_file(input_path) if input_path else read_stream(sys.stdin.buffer, "<stdin>")
    except FileNotFoundError:
        raise InputError(
            f"cannot operate on non-existent file {input_path!r}",
            exit_code=ExitCode.NO_FILE_SPECIFIED,
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read {input_path}: {exc.strerror}") from None
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
