"""Telling systemd which services need the new secrets.

Two deliveries, as in sops-nix:

- ``systemctl --no-block try-restart …`` and ``systemctl --no-block try-reload-or-restart …``
  (secretsctl's default; ``--no-block`` because the boot unit is ordered before the services
  and waiting for them would deadlock the transaction);
- NixOS's list files ``<nixos dir>/activation-restart-list`` and ``-reload-list``
  (``dry-activation-…`` in a dry run), appended one unit a line, only when the directory
  exists and the list is not empty.

:func:`decide_units` takes the units of the items whose bytes changed; every unit named is
checked first with one batched ``systemctl show -p LoadState --value``, and a
``not-found`` unit is a warning naming the item, left out of :func:`deliver_units`.
The ``systemctl`` program is a parameter, so tests put a checking stand-in on PATH.
"""

from __future__ import annotations

import os

from secretsctl.choice import Choice
from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    import re
    from collections.abc import Mapping, Sequence

    from secretsctl.activate.context import Context
    from secretsctl.activate.diff import Diff
    from secretsctl.activate.rooted import RootedDirs

SYSTEMCTL = "systemctl"
_TIMEOUT = 90


# systemd's unit-name alphabet; refusing a leading '-' keeps a name from reading as an option.
def _unit_name_pattern() -> re.Pattern[str]:
    import re  # on first use only: the boot path does without re

    return re.compile(r"[A-Za-z0-9:_.\\@-]+")


class Delivery(Choice):
    """How units whose secrets changed are told."""

    SYSTEMCTL = "systemctl"  # systemctl --no-block try-restart / try-reload-or-restart
    LIST_FILES = "list-files"  # NixOS's /run/nixos/activation-{restart,reload}-list
    NONE = "none"  # decide, report, deliver nothing (user mode)


def valid_unit_name(name: str) -> bool:
    """Tell whether ``name`` can be handed to systemctl as a unit name."""
    return (
        bool(_unit_name_pattern().fullmatch(name)) and not name.startswith("-") and len(name) <= 256
    )


# What systemctl says where systemd is not PID 1 (a container, a chroot, CI).
_NOT_BOOTED = "has not been booted with systemd"


class UnitCheck(Record):
    """The outcome of checking units: their load states, or why they could not be checked."""

    states: Mapping[str, str]
    error: str | None = None
    no_systemd: bool = False  # systemd is not running here: no unit can be told anything

    @property
    def missing(self) -> tuple[str, ...]:
        """Return the units systemd does not know."""
        return tuple(unit for unit, state in self.states.items() if state == "not-found")


def _run(argv: list[str]) -> tuple[int, str]:
    import subprocess

    try:
        done = subprocess.run(  # noqa: S603 - a fixed program and validated unit names
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        return 127, f"{argv[0]}: not found"
    except OSError as exc:
        return 126, f"{argv[0]}: {exc.strerror}"
    except subprocess.TimeoutExpired:
        return 124, f"no answer within {_TIMEOUT} s"
    return done.returncode, done.stdout.decode("utf-8", "replace")


def load_states(units: Sequence[str], *, systemctl: str = SYSTEMCTL) -> UnitCheck:
    """Ask systemd for each unit's LoadState in one call."""
    if not units:
        return UnitCheck({})
    code, output = _run([systemctl, "show", "-p", "LoadState", "--value", *units])
    if code != 0:
        return UnitCheck(
            {}, _failure(f"{systemctl} show", code, output), no_systemd=_NOT_BOOTED in output
        )
    # systemctl separates the units' property blocks with an empty line.
    values = [line.strip() for line in output.splitlines() if line.strip()]
    if len(values) != len(units):
        return UnitCheck({}, f"unexpected answer from '{systemctl} show' for {len(units)} units")
    return UnitCheck(dict(zip(units, values, strict=True)))


def _failure(what: str, code: int, output: str) -> str:
    first = next((line.strip() for line in output.splitlines() if line.strip()), "")
    detail = f": {first}" if first else ""
    status = "not found" if code == 127 else f"exit status {code}"
    return f"error running '{what}': {status}{detail}"


def run_systemctl(
    restart: Sequence[str], reload: Sequence[str], *, systemctl: str = SYSTEMCTL
) -> list[str]:
    """Run try-restart, then try-reload-or-restart; return the errors (empty on success)."""
    errors = []
    for verb, units in (("try-restart", restart), ("try-reload-or-restart", reload)):
        if not units:
            continue
        argv = [systemctl, "--no-block", verb, *units]
        code, output = _run(argv)
        if code != 0:
            errors.append(_failure(" ".join(argv), code, output))
    return errors


def list_file_paths(nixos_dir: str, *, dry_run: bool) -> tuple[str, str]:
    """Return the restart and reload list files NixOS reads."""
    prefix = os.path.join(nixos_dir, "dry-activation" if dry_run else "activation")
    return prefix + "-restart-list", prefix + "-reload-list"


def append_list_files(
    nixos_dir: str,
    restart: Sequence[str],
    reload: Sequence[str],
    *,
    dry_run: bool,
    dirs: RootedDirs | None = None,
) -> tuple[str, ...]:
    """Append unit names to NixOS's list files; return the files written.

    Nothing happens when the NixOS directory does not exist or a list is empty. The directory
    is reached through ``dirs`` (an untrusted symlink on the way is refused).
    """
    from secretsctl.activate.rooted import dirs_or_system

    written = []
    with dirs_or_system(dirs) as walker:
        try:
            folder_fd = walker.find(nixos_dir)
        except (FileNotFoundError, NotADirectoryError):
            folder_fd = None
        if folder_fd is None:
            return ()
        for path, units in zip(
            list_file_paths(nixos_dir, dry_run=dry_run), (restart, reload), strict=True
        ):
            if not units:
                continue
            fd = os.open(
                os.path.basename(path),
                os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=folder_fd,
            )
            try:
                os.write(fd, "".join(unit + "\n" for unit in units).encode())
            finally:
                os.close(fd)
            written.append(path)
    return tuple(written)


def decide_units(
    diff: Diff, deliver: Delivery, systemctl: str, check_units: bool
) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
    """Return the units to restart and to reload, and the warnings (unknown or invalid units)."""
    if not (diff.restart_units or diff.reload_units):
        return (), (), []
    warnings = []
    sources = dict(diff.unit_sources)
    named = list(dict.fromkeys([*diff.restart_units, *diff.reload_units]))
    skip = {u for u in named if not valid_unit_name(u)}
    warnings += [
        f"ignoring '{u}' named by {sources.get(u, 'an item')}: not a unit name" for u in skip
    ]
    named = [u for u in named if u not in skip]
    if check_units and deliver is not Delivery.NONE and named:
        check = load_states(named, systemctl=systemctl)
        if check.no_systemd:
            # Known before anything is delivered: one line, not a failed restart per unit.
            warnings.append(
                f"systemd is not running here, so {', '.join(named)}"
                f" {'is' if len(named) == 1 else 'are'} not restarted or reloaded (hint: pass"
                " --delivery none where no service manager runs, as in a container)"
            )
            return (), (), warnings
        if check.error:
            warnings.append(f"cannot check that the units exist: {check.error}")
        for unit in check.missing:
            warnings.append(f"unit '{unit}' named by {sources.get(unit, 'an item')} does not exist")
            skip.add(unit)
    return (
        tuple(u for u in diff.restart_units if u not in skip),
        tuple(u for u in diff.reload_units if u not in skip),
        warnings,
    )


def deliver_units(
    ctx: Context,
    restart: tuple[str, ...],
    reload: tuple[str, ...],
    deliver: Delivery,
    systemctl: str,
    *,
    dry_run: bool,
) -> tuple[bool, tuple[str, ...], list[str]]:
    """Hand the units over; return (delivered, list files written, errors)."""
    if not (restart or reload) or deliver is Delivery.NONE:
        return False, (), []
    if deliver is Delivery.LIST_FILES:
        try:
            written = append_list_files(
                ctx.paths.nixos_dir, restart, reload, dry_run=dry_run, dirs=ctx.dirs
            )
        except OSError as exc:
            return False, (), [f"cannot write the unit list files: {exc.strerror}"]
        return bool(written), written, []
    if dry_run:
        return False, (), []
    errors = run_systemctl(restart, reload, systemctl=systemctl)
    return not errors, (), errors
