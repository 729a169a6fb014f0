"""``python -m secretsctl``."""

from __future__ import annotations

from secretsctl.cli import main

main()
