"""The bounds on what secretsctl reads, in one place.

Size. Every input file (sops files, ``secretsctl.yaml``, ``manifest.json``, ``.sops.yaml``,
template sources, age key files, the value of ``set --value-file``) and stdin is read through
:func:`read_file` or :func:`read_stream`, which stop after :func:`max_input_bytes` bytes, so an
endless input (``/dev/zero``) or a huge file is refused before it fills memory. The default is
64 MiB; the environment variable ``SECRETSCTL_MAX_INPUT_BYTES`` sets another number of bytes.

The readers of structured text (the YAML and JSON stores, the configuration) also bound:

- Nesting: at most :data:`MAX_NESTING_DEPTH` levels of mappings and lists, counted with aliases
  expanded. Why: the trees are walked recursively (copy, encrypt, decrypt, emit), and libyaml's
  scanner spends time proportional to the open flow levels on every token, so unbounded depth
  means a RecursionError and quadratic time (a line of 100,000 ``[`` took 17 s). go-yaml and
  Go's encoding/json stop at 10,000 levels, more than Python's recursion limit allows here; 256
  is far beyond any real file.
- Alias expansion: an alias stands for a copy of its anchor, so chained aliases multiply a
  document (nine levels of nine aliases: 2 KB of text, 3.5 billion nodes). As go-yaml v3 does,
  an alias is refused when the nodes decoded through aliases would pass a share of all nodes
  decoded (:func:`alias_expansion_allowed`). Anchors and merge keys as real files use them
  (``<<: *base``) stay far below it.

Time. What waits on another program (an age plugin, a key service) has a deadline in seconds,
read by :func:`seconds_from_env`.
"""

from __future__ import annotations

import os
import stat

from secretsctl.errors import InputLimitError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO, Final

MAX_NESTING_DEPTH: Final = 256
DEFAULT_MAX_INPUT_BYTES: Final = 64 * 1024 * 1024
MAX_INPUT_BYTES_ENV: Final = "SECRETSCTL_MAX_INPUT_BYTES"

TOO_DEEP: Final = f"the document is nested more than {MAX_NESTING_DEPTH} levels deep"
TOO_MANY_ALIASES: Final = "the document expands too much through aliases"

_FIRST_CHUNK: Final = 1 << 16
_CHUNK: Final = 1 << 20


def seconds_from_env(name: str, default: float) -> float:
    """Return the deadline the variable ``name`` sets, else ``default``.

    A value that is not a number, not positive, or over a day is ignored: a typo must not
    leave a boot waiting forever, nor make every request fail at once.
    """
    text = os.environ.get(name, "")
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    return value if 0 < value <= 86400 else default


def max_input_bytes() -> int:
    """Return the most bytes an input may have: ``SECRETSCTL_MAX_INPUT_BYTES``, else 64 MiB."""
    text = os.environ.get(MAX_INPUT_BYTES_ENV)
    if text is None:
        return DEFAULT_MAX_INPUT_BYTES
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise InputLimitError(
            f"{MAX_INPUT_BYTES_ENV} must be a positive number of bytes, not `{text}`"
        )
    return value


def _too_large(label: str, limit: int) -> InputLimitError:
    return InputLimitError(
        f"{label}: larger than the input limit of {limit} bytes",
        hint=f"to read it anyway, raise the limit with {MAX_INPUT_BYTES_ENV}=<bytes>",
    )


def _read_bounded(read: Callable[[int], bytes], size: int, label: str) -> bytes:
    """Read to the end, at most the limit; ``size`` is the expected size (0: unknown)."""
    limit = max_input_bytes()
    if size > limit:
        raise _too_large(label, limit)
    chunks = []
    left = limit + 1
    want = size + 1 if size else _FIRST_CHUNK
    while left > 0:
        chunk = read(min(want, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
        want = _CHUNK
    if left <= 0:
        raise _too_large(label, limit)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_file(
    path: str | os.PathLike[str], *, label: str | None = None, nofollow: bool = False
) -> bytes:
    """Read a whole input file, refusing one larger than :func:`max_input_bytes`.

    Raises :class:`InputLimitError` naming ``label`` (default: the path) for a file over the
    limit, and :class:`OSError` as :func:`open` would for one that cannot be read.
    ``nofollow`` refuses a symbolic link (``O_NOFOLLOW``).
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_NOFOLLOW if nofollow else 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        size = info.st_size if stat.S_ISREG(info.st_mode) else 0
        return _read_bounded(
            lambda count: os.read(fd, count), size, os.fspath(path) if label is None else label
        )
    finally:
        os.close(fd)


def read_stream(stream: BinaryIO, label: str) -> bytes:
    """Read a binary stream (stdin) to its end, refusing more than :func:`max_input_bytes`."""
    return _read_bounded(stream.read, 0, label)


def alias_expansion_allowed(direct: int, aliased: int) -> bool:
    """Tell whether ``aliased`` nodes decoded through aliases are allowed beside ``direct`` ones.

    go-yaml v3's rule: anything up to 1,000 nodes in all or 100 through aliases; then a share
    through aliases of 99 % up to 400,000 nodes, falling linearly to 10 % at 4,000,000. So
    aliases can multiply a small document at most a hundredfold, and a large one barely.
    """
    total = direct + aliased
    if aliased <= 100 or total <= 1000:
        return True
    low, high = 400_000, 4_000_000
    if total <= low:
        allowed = 0.99
    elif total >= high:
        allowed = 0.10
    else:
        allowed = 0.99 - 0.89 * ((total - low) / (high - low))
    return aliased / total <= allowed
