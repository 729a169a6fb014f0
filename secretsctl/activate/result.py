"""What an activation run did, or would do: :class:`ApplyResult`, for apply and rollback."""

from __future__ import annotations

from secretsctl.activate.diff import ItemState
from secretsctl.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from secretsctl.activate.diff import ItemChange
    from secretsctl.activate.fsops import MountOutcome
    from secretsctl.activate.units import Delivery


class ApplyResult(Record):
    """What a run did, or would do. Names, owners, modes and sizes only, never a value."""

    dry_run: bool
    generation: int | None  # live after the run (dry run: what would be live)
    previous: int | None  # live before the run
    created: bool  # a new generation was (would be) made; False when nothing differed
    items: tuple[ItemChange, ...]  # planned items in plan order, then removed ones
    log_lines: tuple[str, ...]  # change log, drift and stale-link lines
    restart_units: tuple[str, ...]
    reload_units: tuple[str, ...]
    delivery: Delivery
    delivered: bool = False  # units were handed to systemctl or written to list files
    list_files: tuple[str, ...] = ()
    links_created: tuple[str, ...] = ()  # made or replaced (dry run: would be)
    links_removed: tuple[str, ...] = ()  # stale links removed (dry run: would be)
    pruned: tuple[int, ...] = ()  # generations deleted (dry run: would be)
    mount: MountOutcome | None = None
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # failures after the switch; the new generation stays live

    @property
    def ok(self) -> bool:
        """Tell whether every step succeeded."""
        return not self.errors

    @property
    def changed(self) -> bool:
        """Tell whether any item is new, changed or removed, or has drifted."""
        return any(i.state is not ItemState.UNCHANGED or i.drift for i in self.items)

    def unit_lines(self) -> list[str]:
        """Return sops-nix's ``would restart <unit>`` / ``would reload <unit>`` lines."""
        return [f"would restart {u}" for u in self.restart_units] + [
            f"would reload {u}" for u in self.reload_units
        ]
