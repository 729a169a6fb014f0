"""A directory's GitHub repository and HEAD commit, from the files git keeps.

No ``git`` process is started: the lookup runs on every change of directory and must be cheap
and must not block the event loop for long. The few files read are small: ``.git`` (a
folder, or a file ``gitdir: …`` in worktrees and submodules), ``commondir``, ``config``,
``HEAD``, one loose ref and ``packed-refs``.

Remote choice: ``origin`` when its URL is a GitHub remote; else the remote of the
current branch's upstream (``branch.<name>.remote``); else the first remote, in the order of
the config file, whose URL is a GitHub remote. ``url.<base>.insteadOf`` rules of the
repository's config and of the user's global config are applied first, as
``git remote get-url`` does.

Not supported (the result is "no repository" or an unknown head, never an exception):
the reftable ref format, ``include``/``includeIf`` in configs, and ``GIT_DIR``-style
environment overrides.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator
from typing import Final

from secretsctl.leds.model import Repository

# GitHub's own rules: an owner is letters, digits and hyphens (enterprise-managed users add an
# underscore); a repository name is letters, digits, '.', '-' and '_'.
_OWNER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,100}")
_URL_SCHEMES: Final = frozenset({"ssh", "git+ssh", "ssh+git", "https", "http", "git"})
_OBJECT_ID: Final = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# GitHub's "SSH over the HTTPS port" host serves the same repositories as github.com.
_HOST_ALIASES: Final = {"ssh.github.com": "github.com"}
_MAX_SYMREF_DEPTH: Final = 5
_MAX_CONFIG_BYTES: Final = 1 << 20


def parse_github_remote(url: str, hosts: Collection[str]) -> tuple[str, str] | None:
    """Return ``(owner, name)`` of a GitHub remote URL, or None.

    Accepted forms: ``ssh://[user@]host[:port]/o/r``, ``git+ssh://…``, scp-style
    ``[user@]host:o/r``, ``https://[user[:password]@]host[:port]/o/r``, ``http://…`` and
    ``git://host/o/r``, each with or without ``.git`` and a trailing ``/``. None when the host
    is not in ``hosts`` (compared without case) or the path is not exactly ``owner/name``.
    """
    text = url.strip()
    scheme, separator, rest = text.partition("://")
    if separator:
        if scheme.lower() not in _URL_SCHEMES:
            return None
        authority, slash, path = rest.partition("/")
        if not slash:
            return None
        host_port = authority.rpartition("@")[2]
        host, colon, port = host_port.partition(":")
        if colon and not port.isdigit():
            return None
    else:
        # git's rule: a colon before any slash makes it scp-style, else it is a local path.
        host_part, colon, path = text.partition(":")
        if not colon or "/" in host_part:
            return None
        host = host_part.rpartition("@")[2]
    if not _is_allowed_host(host, hosts):
        return None
    return _owner_and_name(path)


def _is_allowed_host(host: str, hosts: Collection[str]) -> bool:
    allowed = {h.lower() for h in hosts}
    host = host.lower()
    return host in allowed or _HOST_ALIASES.get(host) in allowed


def _owner_and_name(path: str) -> tuple[str, str] | None:
    if path.endswith("/"):
        path = path[:-1]
    while path.endswith(".git"):
        path = path[: -len(".git")]
    owner, slash, name = path.partition("/")
    if not slash or not _OWNER.fullmatch(owner) or not _NAME.fullmatch(name):
        return None
    if name in {".", ".."}:
        return None
    return owner, name


def find_repository(
    directory: str, *, hosts: Collection[str] = ("github.com",)
) -> Repository | None:
    """Return the GitHub repository holding ``directory`` and its HEAD commit, or None.

    None when ``directory`` is not inside a git work tree, or no remote is a GitHub remote on
    one of ``hosts``. ``head`` is None on an unborn branch or when HEAD cannot be resolved.
    A broken or unreadable repository never raises.
    """
    try:
        found = _find_git_dir(os.path.abspath(directory))
        if found is None:
            return None
        root, git_dir = found
        common_dir = _common_dir(git_dir)
        config = _read_config(os.path.join(common_dir, "config"))
        head_ref, head = _read_head(git_dir, common_dir)
        remote = _choose_remote(config, _branch_of(head_ref), hosts)
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if remote is None:
        return None
    owner, name = remote
    return Repository(root=root, owner=owner, name=name, head=head)


def _find_git_dir(directory: str) -> tuple[str, str] | None:
    """Walk up from ``directory`` to the work tree; return its root and its git directory."""
    current = directory
    while True:
        dot_git = os.path.join(current, ".git")
        if os.path.isdir(dot_git):
            if _looks_like_git_dir(dot_git):
                return current, dot_git
        elif os.path.isfile(dot_git):
            git_dir = _gitdir_from_file(dot_git)
            if git_dir is not None and _looks_like_git_dir(git_dir):
                return current, git_dir
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _looks_like_git_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "HEAD"))


def _gitdir_from_file(dot_git_file: str) -> str | None:
    """Return the git directory named by a ``.git`` file (worktrees, submodules)."""
    text = _read_small(dot_git_file)
    if text is None or not text.startswith("gitdir:"):
        return None
    target = text[len("gitdir:") :].strip()
    if not target:
        return None
    return os.path.normpath(os.path.join(os.path.dirname(dot_git_file), target))


def _common_dir(git_dir: str) -> str:
    """Return the directory shared by all worktrees: config, branches, packed-refs."""
    text = _read_small(os.path.join(git_dir, "commondir"))
    if text is None or not text.strip():
        return git_dir
    return os.path.normpath(os.path.join(git_dir, text.strip()))


def _read_small(path: str, limit: int = 64 * 1024) -> str | None:
    try:
        with open(path, "rb") as file:
            data = file.read(limit)
    except OSError:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


def _read_head(git_dir: str, common_dir: str) -> tuple[str | None, str | None]:
    """Return (the symbolic ref HEAD names or None when detached, the commit id or None)."""
    text = _read_small(os.path.join(git_dir, "HEAD"))
    if text is None:
        return None, None
    text = text.strip()
    if not text.startswith("ref:"):
        return None, text if _OBJECT_ID.fullmatch(text) else None
    ref = text[len("ref:") :].strip()
    return ref, _resolve_ref(ref, git_dir, common_dir)


def _resolve_ref(ref: str, git_dir: str, common_dir: str) -> str | None:
    for _ in range(_MAX_SYMREF_DEPTH):
        if not ref.startswith("refs/") or ".." in ref.split("/"):
            return None
        loose = _read_loose_ref(ref, git_dir, common_dir)
        if loose is None:
            return _packed_ref(ref, common_dir)
        if loose.startswith("ref:"):
            ref = loose[len("ref:") :].strip()
            continue
        return loose if _OBJECT_ID.fullmatch(loose) else None
    return None


def _read_loose_ref(ref: str, git_dir: str, common_dir: str) -> str | None:
    # Per-worktree refs (bisect, refs/worktree/…) live in the worktree's own git directory;
    # looking there first and then in the common one covers both kinds.
    for base in dict.fromkeys((git_dir, common_dir)):
        text = _read_small(os.path.join(base, *ref.split("/")))
        if text is not None and text.strip():
            return text.strip()
    return None


def _packed_ref(ref: str, common_dir: str) -> str | None:
    # Read line by line: a large repository's packed-refs can hold many megabytes of tags.
    wanted = b" " + ref.encode()
    try:
        with open(os.path.join(common_dir, "packed-refs"), "rb") as file:
            for line in file:
                line = line.rstrip(b"\r\n")
                if line.endswith(wanted) and len(line) == line.index(b" ") + len(wanted):
                    object_id = line[: line.index(b" ")].decode("ascii", "replace")
                    return object_id if _OBJECT_ID.fullmatch(object_id) else None
    except OSError:
        return None
    return None


def _branch_of(head_ref: str | None) -> str | None:
    if head_ref is not None and head_ref.startswith("refs/heads/"):
        return head_ref[len("refs/heads/") :]
    return None


# --- git config: only what the remote lookup needs -------------------------------------------

_Config = list[tuple[str, str]]  # (section.subsection.key with section and key lowercased, value)

_SECTION: Final = re.compile(r'\[\s*([A-Za-z0-9.-]+)\s*(?:"((?:[^"\\]|\\.)*)")?\s*\]')


def _read_config(path: str) -> _Config:
    text = _read_small(path, limit=_MAX_CONFIG_BYTES)
    return [] if text is None else list(_parse_config(text))


def _parse_config(text: str) -> Iterator[tuple[str, str]]:
    """Yield the (name, value) entries of a git config file, in file order.

    Handles quoted subsections, old-style ``[section.sub]`` headers, comments, quoted values,
    escapes and backslash line continuations; a malformed line is skipped.
    """
    section = ""
    lines = iter(text.splitlines())
    for raw_line in lines:
        line = raw_line.strip()
        if line.startswith("["):
            header = _SECTION.match(line)
            if header is None:
                section = ""
                continue
            name, subsection = header.group(1), header.group(2)
            if subsection is not None:
                subsection = re.sub(r"\\(.)", r"\1", subsection)
                section = f"{name.lower()}.{subsection}"
            else:
                # Old-style [remote.origin]: git lowercases the subsection too.
                section = name.lower()
            line = line[header.end() :].strip()
            if not line or line[0] in "#;":
                continue
        if not line or line[0] in "#;" or not section:
            continue
        key, equals, value = line.partition("=")
        key = key.strip()
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", key):
            continue
        if not equals:
            yield f"{section}.{key.lower()}", "true"
            continue
        parsed, continues = _parse_value(value)
        while continues:
            next_line = next(lines, None)
            if next_line is None:
                break
            value = value.rstrip()[:-1] + next_line
            parsed, continues = _parse_value(value)
        yield f"{section}.{key.lower()}", parsed


def _parse_value(value: str) -> tuple[str, bool]:
    """Return a config value without quotes, escapes and comments, and whether it continues."""
    out: list[str] = []
    quoted = False
    index = 0
    pending_space = ""
    value = value.lstrip()
    while index < len(value):
        char = value[index]
        if char == "\\":
            if index + 1 == len(value):
                return "".join(out) + pending_space, True
            escaped = value[index + 1]
            out.append(pending_space + {"n": "\n", "t": "\t", "b": "\b"}.get(escaped, escaped))
            pending_space = ""
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "#;":
            break
        elif not quoted and char.isspace():
            pending_space += char
        else:
            out.append(pending_space + char)
            pending_space = ""
        index += 1
    return "".join(out), False


def _global_config() -> _Config:
    entries: _Config = []
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    for path in (os.path.join(xdg, "git", "config"), os.path.expanduser("~/.gitconfig")):
        entries += _read_config(path)
    return entries


def _rewrite_url(url: str, config: _Config) -> str:
    """Apply the longest matching ``url.<base>.insteadOf`` prefix, as git does."""
    best_prefix, best_base = "", ""
    for name, value in config:
        if not (name.startswith("url.") and name.endswith(".insteadof")):
            continue
        base = name[len("url.") : -len(".insteadof")]
        if value and url.startswith(value) and len(value) > len(best_prefix):
            best_prefix, best_base = value, base
    if not best_prefix:
        return url
    return best_base + url[len(best_prefix) :]


def _choose_remote(
    config: _Config, branch: str | None, hosts: Collection[str]
) -> tuple[str, str] | None:
    remote_urls: dict[str, str] = {}
    upstream: str | None = None
    for name, value in config:
        if name.startswith("remote.") and name.endswith(".url"):
            # `git remote get-url` prints the first url of a remote.
            remote_urls.setdefault(name[len("remote.") : -len(".url")], value)
        elif branch is not None and name == f"branch.{branch}.remote":
            upstream = value
    if not remote_urls:
        return None
    rewrite_rules = _global_config() + config
    order = ["origin"] + ([upstream] if upstream else []) + list(remote_urls)
    for remote in order:
        url = remote_urls.get(remote)
        if url is None:
            continue
        parsed = parse_github_remote(_rewrite_url(url, rewrite_rules), hosts)
        if parsed is not None:
            return parsed
    return None


__all__ = ["find_repository", "parse_github_remote"]
