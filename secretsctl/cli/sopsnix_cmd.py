"""``sops-install-secrets``: a drop-in for sops-nix's runtime, on its own command line.

The NixOS module runs ``sops-install-secrets [-check-mode=manifest|sopsfile|off]
[-ignore-passwd] MANIFEST`` with Go's flag syntax (``-x=v``, ``--x=v``, ``-x v``; flags
before the manifest), so this entry point parses exactly that, not click's syntax. It reads
the environment sops-nix reads: ``NIXOS_ACTION=dry-activate`` makes a dry run (which here
writes nothing but NixOS's dry-activation list files) and
``SOPS_RESTART_UNITS_VIA_SYSTEMCTL=1`` restarts units through systemctl instead of the list
files. Unlike sops-nix, a missing manifest is a usage error. Every error exits 1, as
sops-install-secrets' do (its NixOS module and tests only tell 0 from 1); secretsctl's own
commands keep their documented exit codes. Ctrl-C and SIGTERM end the process by that
signal, as Go's runtime ends sops-install-secrets, not with secretsctl's exit 85.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from secretsctl.cli.app import App
from secretsctl.errors import ExitCode, UsageError

USAGE = """\
Usage: sops-install-secrets [-check-mode=manifest|sopsfile|off] [-ignore-passwd] MANIFEST

Installs the secrets of sops-nix's manifest.json (secretsctl's implementation).
  -check-mode string   manifest: validate the manifest only; sopsfile: also read the sops
                       files and their keys; off: install (default "off")
  -ignore-passwd       look up no user or group: every file is owned 0:0
"""
CHECK_MODES = ("manifest", "sopsfile", "off")
_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


class FlagError(UsageError):
    """A command line sops-install-secrets does not accept; sops-nix exits 1 for these."""

    exit_code = ExitCode.GENERIC


class DropInApp(App):
    """secretsctl's output, with sops-install-secrets' single failure status."""

    __slots__ = ()

    def abort(self, text: str, code: int = ExitCode.GENERIC, hint: str | None = None) -> NoReturn:
        """Print the error (and hint) and exit 1 whatever the error, as sops-install-secrets."""
        super().abort(text, ExitCode.GENERIC if code != ExitCode.OK else code, hint)

    def run_guarded(self, body: Callable[[], None]) -> None:
        """As :meth:`App.run_guarded`, but Ctrl-C ends the process by SIGINT, as Go's does.

        The interrupt unwinds first, so a half-written generation is removed on the way
        (SIGTERM keeps Python's default, the process dies at once as Go's does: the live
        generation is only ever replaced by one atomic rename, and the next run removes
        what was left).
        """

        def interruptible() -> None:
            try:
                body()
            except KeyboardInterrupt:
                import signal

                raise DieBySignal(signal.SIGINT) from None

        super().run_guarded(interruptible)


class DieBySignal(BaseException):
    """Raised out of :func:`run` to end the process by ``signum``, as Go's runtime does.

    A BaseException, so no ``except Exception`` on the way up turns it into an error line.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Options:
    """The parsed command line."""

    __slots__ = ("check_mode", "help", "ignore_passwd", "manifest")

    def __init__(self) -> None:
        self.check_mode = "off"
        self.ignore_passwd = False
        self.manifest: str | None = None
        self.help = False


def parse_args(argv: Sequence[str]) -> Options:
    """Parse Go ``flag`` syntax: flags first, then exactly one manifest path."""
    options = Options()
    args = list(argv)
    while args:
        arg = args[0]
        if arg == "--":
            args.pop(0)
            break
        if not arg.startswith("-") or arg == "-":
            break
        args.pop(0)
        name, has_value, value = arg.lstrip("-").partition("=")
        if arg.startswith("---") or not name:
            raise FlagError(f"bad flag syntax: {arg}")
        if name in ("h", "help"):
            options.help = True
        elif name == "ignore-passwd":
            if has_value and value not in _TRUE | _FALSE:
                raise FlagError(f"invalid boolean value {value!r} for -ignore-passwd")
            options.ignore_passwd = not has_value or value in _TRUE
        elif name == "check-mode":
            if not has_value:
                if not args:
                    raise FlagError("flag needs an argument: -check-mode")
                value = args.pop(0)
            if value not in CHECK_MODES:
                raise FlagError(
                    f"invalid value {value!r} for -check-mode: use manifest, sopsfile or off"
                )
            options.check_mode = value
        else:
            raise FlagError(f"flag provided but not defined: -{name}")
    if options.help:
        return options
    if len(args) != 1:
        raise FlagError(
            "exactly one manifest path is required" if not args else "too many arguments",
            hint="run `sops-install-secrets -h` for the usage",
        )
    options.manifest = args[0]
    return options


def install(options: Options, app: App, environ: Mapping[str, str]) -> None:
    """Validate, or install, the manifest as sops-install-secrets would."""
    from secretsctl.config.sopsnix import load_manifest
    from secretsctl.render.plan import build_plan

    assert options.manifest is not None  # noqa: S101 - parse_args requires it
    check_only = options.check_mode != "off"
    dry_run = environ.get("NIXOS_ACTION") == "dry-activate"
    # A dry activation looks nobody up (sops-nix forces 0:0): the configuration it checks
    # may add the very users it names.
    ignore_passwd = options.ignore_passwd or dry_run
    manifest = load_manifest(
        options.manifest,
        environ=environ,
        check_only=check_only,
        ignore_passwd=ignore_passwd,
    )
    if options.check_mode == "manifest":
        return
    if options.check_mode == "sopsfile":
        build_plan(manifest, check_only=True, ignore_passwd=True)
        return
    from secretsctl.activate.apply import apply
    from secretsctl.activate.units import Delivery
    from secretsctl.paths import RuntimePaths

    plan = build_plan(manifest, ignore_passwd=ignore_passwd)
    age_keys = None
    keys = manifest.keys
    if (keys.age_key_file or keys.age_ssh_key_paths) and not dry_run:
        from secretsctl.keys.kinds import KeySourceError
        from secretsctl.keys.sopsnix_keyfile import combined_age_keys, rfc3339_now

        try:
            age_keys = combined_age_keys(keys.age_ssh_key_paths, keys.age_key_file, rfc3339_now())
        except OSError as exc:
            raise KeySourceError(
                f"cannot read keyfile '{keys.age_key_file}': {exc.strerror}"
            ) from None
    if manifest.log_key_import:
        # sops-nix prints these prefixed with its program name: GPG imports on stdout first
        # (its keyring is set up before the age keys), age imports on stderr.
        for path, fingerprint in plan.imported_gpg_keys:
            sys.stdout.write(
                f"sops-install-secrets: Imported {path} as GPG key with fingerprint {fingerprint}\n"
            )
        sys.stdout.flush()
        for path, recipient in plan.imported_keys:
            sys.stderr.write(
                f"sops-install-secrets: Imported {path} as age key with fingerprint {recipient}\n"
            )
    via_systemctl = environ.get("SOPS_RESTART_UNITS_VIA_SYSTEMCTL") == "1"
    result = apply(
        plan,
        manifest,
        RuntimePaths(),
        dry_run=dry_run,
        deliver=Delivery.SYSTEMCTL if via_systemctl else Delivery.LIST_FILES,
        keys_gid=0 if ignore_passwd else None,
        owners_known=not ignore_passwd or options.ignore_passwd,
        always_new_generation=True,
        age_keys=age_keys,  # sops-nix's <mount point>/age-keys.txt
        force=True,  # sops-nix replaces a real file or directory at the symlink path
    )
    for warning in result.warnings:
        app.display_warning(warning)
    for line in result.log_lines:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
    if dry_run and via_systemctl:
        for line in result.unit_lines():
            sys.stderr.write(line + "\n")
    for error in result.errors:
        app.display_error(error)
    if result.errors:
        raise SystemExit(int(ExitCode.GENERIC))


def run(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Run the command line; errors become one line and an exit code."""
    import os

    app = DropInApp()

    def parse_and_install() -> None:
        options = parse_args(sys.argv[1:] if argv is None else argv)
        if options.help:
            sys.stderr.write(USAGE)
            return
        install(options, app, os.environ if environ is None else environ)

    app.run_guarded(parse_and_install)


def main() -> NoReturn:
    """Run ``sops-install-secrets`` and end the process."""
    from secretsctl.cli import run_process

    def run_or_die() -> None:
        try:
            run()
        except DieBySignal as death:
            die_by_signal(death.signum)

    run_process(run_or_die)


def die_by_signal(signum: int) -> NoReturn:
    """End the process by ``signum`` with its default action (the wait status names it)."""
    import contextlib
    import os
    import signal

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)
    raise SystemExit(128 + signum)  # only if the signal could not end the process
