"""sops-compatible commands: ``decrypt`` and ``encrypt``, spelled and exiting as sops does."""

from __future__ import annotations

import os

import click

from secretsctl.cli.app import App
from secretsctl.cli.options import (
    SopsCommand,
    flag_key_group,
    ignore_mac_option,
    input_type_option,
    option_group,
    options_as,
    output_type_option,
    pgp_option,
    sops_options,
)
from secretsctl.cli.sops_run import Io, SopsOptions, check_services
from secretsctl.cli.sops_run import decrypt as run_decrypt
from secretsctl.errors import ConfigError, UsageError
from secretsctl.record import Record


class _IoOptions(Record):
    """FILE and the options that say where decrypt and encrypt read and write."""

    file: str | None
    input_type: str | None
    output_type: str | None
    output: str | None
    in_place: bool
    filename_override: str | None


_common_options = option_group(
    options_as(
        _IoOptions,
        "io_options",
        click.argument("file", required=False, type=click.Path(dir_okay=False)),
        input_type_option("Store of the input; by default from the file's extension."),
        output_type_option("Store of the output; by default the input's."),
        click.option(
            "--output", type=click.Path(dir_okay=False), help="Write the result to this file."
        ),
        click.option("-i", "--in-place", is_flag=True, help="Replace FILE with the result."),
        click.option(
            "--filename-override",
            help="Use this name instead of FILE for the store and .sops.yaml (needed for stdin).",
        ),
    ),
    sops_options,
)


@click.command(cls=SopsCommand)
@_common_options
@click.option("--extract", help="""Print one key or branch, e.g. '["a"]["b"]' or '["list"][0]'.""")
@ignore_mac_option("Skip the MAC check (never use at boot).")
@click.option(
    "--force",
    is_flag=True,
    help="Print plaintext to a terminal even with SECRETSCTL_REFUSE_TERMINAL set.",
)
@click.pass_obj
def decrypt(
    app: App,
    io_options: _IoOptions,
    sops: SopsOptions,
    extract: str | None,
    ignore_mac: bool,
    force: bool,
) -> None:
    """Decrypt FILE (or stdin) and print the plaintext as sops prints it.

    \b
    Examples:
      secretsctl decrypt secrets.yaml > plain.yaml
      secretsctl decrypt --extract '["github_token"]' secrets.yaml
    """
    run_decrypt(
        app,
        config_path=sops.config_path,
        keyservice=sops.keyservice,
        enable_local_keyservice=sops.enable_local_keyservice,
        extract=extract,
        ignore_mac=ignore_mac,
        force=force,
        **io_options._asdict(),
    )


_RULE_OPTIONS = (
    ("unencrypted_suffix", "Keys ending with this suffix stay in cleartext."),
    ("encrypted_suffix", "Only keys ending with this suffix are encrypted."),
    ("unencrypted_regex", "Keys matching this regex stay in cleartext."),
    ("encrypted_regex", "Only keys matching this regex are encrypted."),
    ("unencrypted_comment_regex", "Values under a comment matching this regex stay in cleartext."),
    ("encrypted_comment_regex", "Only values under a comment matching this regex are encrypted."),
)


_rule_options = option_group(
    *(click.option("--" + name.replace("_", "-"), name, help=text) for name, text in _RULE_OPTIONS)
)


@click.command(cls=SopsCommand)
@_common_options
@click.option(
    "-a",
    "--age",
    envvar="SOPS_AGE_RECIPIENTS",
    help="Comma-separated age recipients (age1… or ssh-ed25519 …); by default the matching"
    " .sops.yaml creation rule. Env: SOPS_AGE_RECIPIENTS.",
)
@pgp_option
@_rule_options
@click.option("--mac-only-encrypted", is_flag=True, help="Leave unencrypted values out of the MAC.")
@click.option(
    "--shamir-secret-sharing-threshold",
    "threshold",
    type=click.IntRange(min=2),
    help="How many key groups must open the file (with several key groups).",
)
@click.pass_obj
def encrypt(
    app: App,
    /,
    io_options: _IoOptions,
    sops: SopsOptions,
    age: str | None,
    pgp: str | None,
    mac_only_encrypted: bool,
    threshold: int | None,
    **rule_flags: str | None,
) -> None:
    """Encrypt FILE (or stdin) to age recipients and PGP keys and print the sops file.

    \b
    Examples:
      secretsctl encrypt --age age1... plain.yaml > secrets.yaml
      secretsctl encrypt --pgp 85D77543B3D624B63CEA9E6DBC17301B491B3F21 plain.yaml
      secretsctl encrypt -i secrets.yaml     # recipients from .sops.yaml
    """
    from secretsctl.api import encrypt_to_bytes, indent_for
    from secretsctl.sops.creation_rules import EncryptionSettings, rule_for
    from secretsctl.sops.stores import Format
    from secretsctl.sops.tree import CryptRule

    services = sops.services()
    io = Io(*io_options)
    flag_group = flag_key_group(age, pgp)
    config = sops.config(app)
    flags = [(name, value) for name, value in rule_flags.items() if value]
    creation: EncryptionSettings | None = None
    if config is not None:
        try:
            creation = rule_for(config, io.name or os.path.abspath("stdin"))
        except ConfigError:
            # With --age the keys are given; a rule only adds settings, so none matching is fine.
            if not flag_group:
                raise
    if not flag_group and creation is None:
        raise ConfigError(
            "config file not found, or has no creation rules, and no keys provided through"
            " command line options",
            hint="pass --age RECIPIENT or --pgp FINGERPRINT, or create a .sops.yaml with a"
            " creation rule",
        )
    rule = CryptRule(*flags[0]) if len(flags) == 1 else None
    if len(flags) > 1:
        raise UsageError(
            "cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex,"
            " unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the"
            " same file"
        )
    if rule is None and creation is not None:
        rule = creation.rule
    if flag_group:
        groups: tuple[tuple[str, ...], ...] = (flag_group,)
    else:
        assert creation is not None  # noqa: S101 - set above when --age is absent
        groups = creation.key_groups
    if io.output_format is Format.BINARY and (rule is not None or mac_only_encrypted):
        app.display_warning("crypt rules do not apply to the binary store; they are ignored")
        rule, mac_only_encrypted = None, False
    settings = EncryptionSettings(
        key_groups=groups,
        rule=rule,
        mac_only_encrypted=mac_only_encrypted or bool(creation and creation.mac_only_encrypted),
        shamir_threshold=threshold or (creation.shamir_threshold if creation else None),
        indent=indent_for(io.output_format, config.stores if config else None),
    )
    check_services(app, services)
    data = io.read()
    out = encrypt_to_bytes(
        data,
        input_format=io.input_format,
        output_format=io.output_format,
        settings=settings,
        label=io.label,
        services=services,
    )
    io.write(app, out, plaintext=False)
