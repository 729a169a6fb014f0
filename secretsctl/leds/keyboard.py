"""The keyboard back-ends behind one small interface: ``razer``, ``openrgb`` and ``stdout``.

The daemon holds one :class:`~secretsctl.leds.model.Keyboard`, made by :func:`open_keyboard`.
It calls ``start`` once, ``paint`` on every change of colour and ``close`` on the way out. A
back-end that cannot reach its lighting service raises
:class:`~secretsctl.leds.model.KeyboardError`; the daemon logs it and carries on.

Each back-end lives in its own module, imported only when chosen:
:mod:`secretsctl.leds.razer` (the bincode protocol of razer-laptop-control),
:mod:`secretsctl.leds.openrgb` (the OpenRGB SDK) and
:mod:`secretsctl.leds.stdout` (one line per paint, for trying without hardware).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from secretsctl.leds.model import KeyboardError

if TYPE_CHECKING:
    from typing import TextIO

    from secretsctl.leds.model import Keyboard

BACKENDS: Final = ("razer", "openrgb", "stdout")
DEFAULT_RAZER_SOCKET: Final = "/tmp/razercontrol-socket"  # noqa: S108 - the Razer daemon's own fixed path
DEFAULT_OPENRGB_ADDRESS: Final = "127.0.0.1:6742"


def open_keyboard(
    backend: str,
    *,
    razer_socket: str = DEFAULT_RAZER_SOCKET,
    openrgb_address: str = DEFAULT_OPENRGB_ADDRESS,
    out: TextIO | None = None,
) -> Keyboard:
    """Return the keyboard back-end named ``backend`` (one of :data:`BACKENDS`).

    Nothing is connected yet: the Razer and OpenRGB back-ends connect on each paint, so a
    lighting service that starts later, or restarts, is simply found again.
    """
    if backend == "razer":
        from secretsctl.leds.razer import RazerKeyboard

        return RazerKeyboard(razer_socket)
    if backend == "openrgb":
        from secretsctl.leds.openrgb import OpenRgbKeyboard, parse_address

        host, port = parse_address(openrgb_address)
        return OpenRgbKeyboard(host, port)
    if backend == "stdout":
        import sys

        from secretsctl.leds.stdout import StdoutKeyboard

        return StdoutKeyboard(out if out is not None else sys.stdout)
    raise KeyboardError(
        f"unknown keyboard back-end `{backend}`", hint=f"choose one of {', '.join(BACKENDS)}"
    )


__all__ = ["BACKENDS", "open_keyboard"]
