"""The fast path's table of options, generated from the click commands; do not edit.

Regenerate with ``python -m secretsctl.cli.gen_fastspec --write``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from secretsctl.cli.fastpath import Entry

# The root group's options.
GLOBAL_OPTIONS: tuple[Entry, ...] = (
    {
        "name": "debug",
        "opts": ("--debug",),
        "kind": "flag",
        "envvar": "SECRETSCTL_DEBUG",
        "default": False,
    },
    {
        "name": "quiet",
        "opts": ("-q", "--quiet"),
        "kind": "flag",
        "default": False,
    },
    {
        "name": "version",
        "opts": ("-v", "--version"),
        "kind": "decline",
    },
)

# Each command's options and arguments, in click's order.
COMMANDS: dict[str, tuple[Entry, ...]] = {
    "render": (
        {
            "name": "manifest_path",
            "opts": ("-m", "--manifest"),
            "kind": "value",
            "envvar": "SECRETSCTL_MANIFEST",
            "default": None,
        },
        {
            "name": "config",
            "opts": ("-c", "--config"),
            "kind": "decline",
        },
        {
            "name": "root",
            "opts": ("--root",),
            "kind": "value",
            "path": (False, True),
            "envvar": "SECRETSCTL_ROOT",
            "default": None,
        },
        {
            "name": "force",
            "opts": ("--force",),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "no_wait",
            "opts": ("--no-wait",),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "delivery",
            "opts": ("--delivery",),
            "kind": "value",
            "choices": ("systemctl", "list-files", "none"),
            "default": "systemctl",
        },
        {
            "name": "dry_run",
            "opts": ("--dry-run",),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "as_json",
            "opts": ("--json",),
            "kind": "flag",
            "default": False,
        },
    ),
    "activate": (
        {
            "name": "manifest_path",
            "opts": ("-m", "--manifest"),
            "kind": "value",
            "envvar": "SECRETSCTL_MANIFEST",
            "default": None,
        },
        {
            "name": "config",
            "opts": ("-c", "--config"),
            "kind": "decline",
        },
        {
            "name": "root",
            "opts": ("--root",),
            "kind": "value",
            "path": (False, True),
            "envvar": "SECRETSCTL_ROOT",
            "default": None,
        },
        {
            "name": "force",
            "opts": ("--force",),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "no_wait",
            "opts": ("--no-wait",),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "delivery",
            "opts": ("--delivery",),
            "kind": "value",
            "choices": ("systemctl", "list-files", "none"),
            "default": "systemctl",
        },
    ),
    "decrypt": (
        {
            "name": "file",
            "kind": "argument",
            "required": False,
            "path": (True, False),
            "default": None,
        },
        {
            "name": "input_type",
            "opts": ("--input-type",),
            "kind": "value",
            "choices": ("yaml", "json", "dotenv", "ini", "binary"),
            "default": None,
        },
        {
            "name": "output_type",
            "opts": ("--output-type",),
            "kind": "value",
            "choices": ("yaml", "json", "dotenv", "ini", "binary"),
            "default": None,
        },
        {
            "name": "output",
            "opts": ("--output",),
            "kind": "value",
            "path": (True, False),
            "default": None,
        },
        {
            "name": "in_place",
            "opts": ("-i", "--in-place"),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "filename_override",
            "opts": ("--filename-override",),
            "kind": "value",
            "default": None,
        },
        {
            "name": "config_path",
            "opts": ("--config",),
            "kind": "value",
            "path": (True, False),
            "envvar": "SOPS_CONFIG",
            "default": None,
        },
        {
            "name": "keyservice",
            "opts": ("--keyservice",),
            "kind": "decline",
            "default": (),
        },
        {
            "name": "enable_local_keyservice",
            "opts": ("--enable-local-keyservice", "--disable-local-keyservice"),
            "kind": "decline",
            "default": None,
        },
        {
            "name": "extract",
            "opts": ("--extract",),
            "kind": "value",
            "default": None,
        },
        {
            "name": "ignore_mac",
            "opts": ("--ignore-mac",),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "force",
            "opts": ("--force",),
            "kind": "flag",
            "default": False,
        },
    ),
    "exec-env": (
        {
            "name": "args",
            "kind": "arguments",
            "default": (),
        },
        {
            "name": "background",
            "opts": ("--background",),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "user",
            "opts": ("--user",),
            "kind": "value",
            "default": None,
        },
        {
            "name": "input_type",
            "opts": ("--input-type",),
            "kind": "value",
            "choices": ("yaml", "json", "dotenv", "ini", "binary"),
            "default": None,
        },
        {
            "name": "config_path",
            "opts": ("--config",),
            "kind": "value",
            "path": (True, False),
            "envvar": "SOPS_CONFIG",
            "default": None,
        },
        {
            "name": "keyservice",
            "opts": ("--keyservice",),
            "kind": "decline",
            "default": (),
        },
        {
            "name": "enable_local_keyservice",
            "opts": ("--enable-local-keyservice", "--disable-local-keyservice"),
            "kind": "decline",
            "default": None,
        },
        {
            "name": "pristine",
            "opts": ("--pristine",),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "same_process",
            "opts": ("--same-process",),
            "kind": "flag",
            "default": False,
        },
    ),
    "exec-file": (
        {
            "name": "args",
            "kind": "arguments",
            "default": (),
        },
        {
            "name": "background",
            "opts": ("--background",),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "user",
            "opts": ("--user",),
            "kind": "value",
            "default": None,
        },
        {
            "name": "input_type",
            "opts": ("--input-type",),
            "kind": "value",
            "choices": ("yaml", "json", "dotenv", "ini", "binary"),
            "default": None,
        },
        {
            "name": "config_path",
            "opts": ("--config",),
            "kind": "value",
            "path": (True, False),
            "envvar": "SOPS_CONFIG",
            "default": None,
        },
        {
            "name": "keyservice",
            "opts": ("--keyservice",),
            "kind": "decline",
            "default": (),
        },
        {
            "name": "enable_local_keyservice",
            "opts": ("--enable-local-keyservice", "--disable-local-keyservice"),
            "kind": "decline",
            "default": None,
        },
        {
            "name": "output_type",
            "opts": ("--output-type",),
            "kind": "value",
            "choices": ("yaml", "json", "dotenv", "ini", "binary"),
            "default": None,
        },
        {
            "name": "no_fifo",
            "opts": ("--no-fifo",),
            "kind": "flag",
            "default": False,
        },
        {
            "name": "filename",
            "opts": ("--filename",),
            "kind": "value",
            "default": None,
        },
    ),
}
