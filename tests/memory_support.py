"""Memory bounds for tests of hostile input: a regression fails with MemoryError instead of
eating the machine.

``memory_limited`` prefixes a subprocess's command line with that bound; ``memory_headroom`` lowers this
process's own address-space limit around a block and restores it afterwards; ``refusal``
runs a reader under that bound and returns the error it must raise.
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Callable, Iterator
from typing import TypeVar

_E = TypeVar("_E", bound=BaseException)

# Enough for any command on small inputs (a decrypt needs well under 300 MiB of address
# space); far less than what an alias bomb or an endless input would take.
CHILD_ADDRESS_SPACE = 1 << 30


def memory_limited(argv: list[str]) -> list[str]:
    """Bound a subprocess's address space: ``argv`` run through util-linux's ``prlimit``.

    Not a ``preexec_fn``: Python code between fork and exec is unsafe once gRPC (loaded by
    the key-service tests in this process) has threads; its fork handler aborted children.
    """
    return ["prlimit", f"--as={CHILD_ADDRESS_SPACE}", "--", *argv]


def _address_space() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmSize in /proc/self/status")


@contextlib.contextmanager
def memory_headroom(extra: int = 512 << 20) -> Iterator[None]:
    """Allow this process only ``extra`` more bytes of address space inside the block."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = _address_space() + extra
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def refusal(call: Callable[[], object], expected: type[_E]) -> _E:
    """Run ``call`` with 512 MiB of headroom; return the ``expected`` error it raises.

    Anything else fails the test with no traceback into the reader: pytest would print each
    frame's arguments, and the repr of a half-expanded alias bomb alone exhausts memory.
    """
    try:
        with memory_headroom():
            call()
    except expected as error:
        return error
    except BaseException as error:
        raise AssertionError(f"{type(error).__name__} instead of {expected.__name__}") from None
    raise AssertionError(f"accepted; expected {expected.__name__}")
