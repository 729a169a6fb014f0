"""Issue 6: secretsctl-activate.service on a real systemd, booted in systemd-nspawn.

The tests share one booted container and run in file order: first boot, systemd's own
checks, a changed secret, a broken sops file, then a reboot. Values never appear: the
consumers report SHA-256s, compared with hashes computed on the host.
"""

from __future__ import annotations

import pytest

from tests.boot.conftest import Machine, expected_sha256
from tests.conftest import REPO

pytestmark = pytest.mark.boot

SOPS = REPO / "examples" / "secrets.yaml"
CONSUMER = "ci-keyboard-leds.service"
OTHER = "telegram-consumer.service"


def reports(machine: Machine, unit: str) -> list[tuple[str, str]]:
    """Each start of a consumer: (InvocationID, SHA-256 of what it read)."""
    path = machine.results / unit.removesuffix(".service")
    return [tuple(line.split()) for line in path.read_text().splitlines()]  # type: ignore[misc]


def stat(machine: Machine, path: str) -> str:
    return machine.run("stat", "-c", "%U:%G %a", path).stdout.strip()


def test_first_boot_installs_generation_1_before_the_consumers(machine: Machine) -> None:
    activate = machine.show(
        "secretsctl-activate.service",
        "ActiveState", "SubState", "Result", "ExecMainStatus", "ActiveEnterTimestampMonotonic",
    )
    assert activate["ActiveState"] == "active", activate
    assert activate["Result"] == "success", activate
    assert activate["ExecMainStatus"] == "0", activate
    done = int(activate["ActiveEnterTimestampMonotonic"])
    assert done > 0
    for unit in (CONSUMER, OTHER):
        consumer = machine.show(unit, "ActiveState", "After", "ExecMainStartTimestampMonotonic")
        assert consumer["ActiveState"] == "active", (unit, consumer)
        # Ordered through sysinit.target, and it really started after activation finished.
        assert "sysinit.target" in consumer["After"].split(), unit
        assert int(consumer["ExecMainStartTimestampMonotonic"]) >= done, unit
        assert len(reports(machine, unit)) == 1, unit

    assert machine.run("readlink", "/run/secrets").stdout.strip() == "/run/secrets.d/1"
    assert machine.run("stat", "-f", "-c", "%T", "/run/secrets.d/1").stdout.strip() == "ramfs"
    assert machine.run("findmnt", "-n", "-o", "FSTYPE", "/run/secrets.d").stdout.strip() \
        == "ramfs"
    assert stat(machine, "/run/secrets/github_token") == "root:root 400"
    assert stat(machine, "/run/secrets/telegram_bot_token") == "root:root 400"
    assert stat(machine, "/run/secrets/rendered/github_token_env") == "desktop:desktop 400"
    assert stat(machine, "/run/secrets/rendered/nix-access-tokens.conf") == "root:desktop 440"

    ((_, seen),) = reports(machine, CONSUMER)
    assert seen == expected_sha256(SOPS, "github_token"), "the consumer saw another token"
    ((_, seen),) = reports(machine, OTHER)
    assert seen == expected_sha256(SOPS, "telegram_bot_token"), "telegram token differs"


def test_units_verify_and_ordering_inside_the_container(machine: Machine) -> None:
    for unit in ("secretsctl-activate.service", CONSUMER):
        check = machine.run("systemd-analyze", "verify", unit, check=False)
        assert check.returncode == 0, (unit, check.stderr)
    activate = machine.show(
        "secretsctl-activate.service", "Before", "After", "WantedBy", "Conflicts",
        "DefaultDependencies", "Type", "RemainAfterExit",
    )
    assert {"sysinit.target", "shutdown.target"} <= set(activate["Before"].split())
    assert {"local-fs.target", "systemd-sysusers.service"} <= set(activate["After"].split())
    assert "sysinit.target" in activate["WantedBy"].split()
    assert "shutdown.target" in activate["Conflicts"].split()
    assert activate["Type"] == "oneshot"
    assert activate["RemainAfterExit"] == "yes"
    sysinit = machine.show("sysinit.target", "After")
    assert "secretsctl-activate.service" in sysinit["After"].split()
