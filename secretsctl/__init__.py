"""secretsctl: a sops-compatible secrets runtime. The public API is in :mod:`secretsctl.api`."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # importlib.metadata costs tens of milliseconds; the boot path must not pay it.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("secretsctl")
        except PackageNotFoundError:
            return "0+unknown"
    raise AttributeError(name)
