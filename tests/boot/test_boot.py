"""Issue 6: secretsctl-activate.service on a real systemd, booted in systemd-nspawn.

The tests share one booted container and run in file order: first boot, systemd's own
checks, a changed secret, a broken sops file, then a reboot. Values never appear: the
consumers report SHA-256s, compared with hashes computed on the host.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.boot.conftest import Machine, expected_sha256, expected_value
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


# --- scenarios 2 to 5: the same machine, after the first boot -----------------------------

def live_sops(machine: Machine) -> Path:
    return machine.tree / "etc" / "secretsctl" / "secrets.yaml"


def set_secret(sops_file: Path, key: str, value: str) -> None:
    """Change one value in place with the host's secretsctl and the demo key."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "secretsctl"), "set", "--value-stdin",
         str(sops_file), f'["{key}"]'],
        input=json.dumps(value).encode(), capture_output=True, check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ["HOME"],
             "SOPS_AGE_KEY_FILE": str(REPO / "examples" / "demo-age-key.txt")},
    )
    assert result.returncode == 0, result.stderr.decode()


def invocation(machine: Machine, unit: str) -> str:
    return machine.show(unit, "InvocationID")["InvocationID"]


def wait_for_reports(machine: Machine, unit: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(reports(machine, unit)) < count:
        if time.monotonic() > deadline:
            machine.fail(f"{unit} did not restart (expected {count} starts)")
        time.sleep(0.2)


def activate(machine: Machine) -> subprocess.CompletedProcess[str]:
    return machine.run("systemctl", "restart", "secretsctl-activate.service", check=False)


def test_changed_secret_restarts_only_its_units(machine: Machine) -> None:
    sops_file = live_sops(machine)
    before = {unit: invocation(machine, unit) for unit in (CONSUMER, OTHER)}
    starts = {unit: len(reports(machine, unit)) for unit in (CONSUMER, OTHER)}
    set_secret(sops_file, "github_token", "ghp_" + secrets.token_hex(18))

    assert activate(machine).returncode == 0
    wait_for_reports(machine, CONSUMER, starts[CONSUMER] + 1)
    assert machine.run("readlink", "/run/secrets").stdout.strip() == "/run/secrets.d/2"
    after = {unit: invocation(machine, unit) for unit in (CONSUMER, OTHER)}
    assert after[CONSUMER] != before[CONSUMER]
    assert after[OTHER] == before[OTHER], "the unrelated consumer was restarted"
    assert len(reports(machine, OTHER)) == starts[OTHER]
    new_id, seen = reports(machine, CONSUMER)[-1]
    assert new_id.replace("-", "") == after[CONSUMER].replace("-", "")
    assert seen == expected_sha256(sops_file, "github_token"), "the consumer saw another token"


def test_broken_sops_file_fails_the_unit_and_keeps_the_generation(machine: Machine) -> None:
    sops_file = live_sops(machine)
    good = sops_file.read_bytes()
    live = machine.run("readlink", "/run/secrets").stdout.strip()
    before = {unit: invocation(machine, unit) for unit in (CONSUMER, OTHER)}
    values = (expected_value(sops_file, "github_token"),
              expected_value(sops_file, "telegram_bot_token"))
    # Tamper with one character of github_token's ciphertext.
    text = good.decode()
    marker = "github_token: ENC[AES256_GCM,data:"
    start = text.index(marker) + len(marker)
    flipped = "A" if text[start] != "A" else "B"
    sops_file.write_text(text[:start] + flipped + text[start + 1:])
    try:
        assert activate(machine).returncode != 0
        state = machine.show("secretsctl-activate.service", "ActiveState", "Result",
                             "InvocationID")
        assert state["ActiveState"] == "failed", state
        # What the failed run itself wrote (its invocation only, not systemd's lines).
        journal = machine.run(
            "journalctl", "--no-pager", "-o", "cat",
            f"_SYSTEMD_INVOCATION_ID={state['InvocationID']}",
        ).stdout
        problem = [line for line in journal.splitlines() if "github_token" in line]
        assert len(problem) == 1, f"not one journal line naming the problem:\n{journal}"
        assert "secrets.yaml" in problem[0]
        assert "decrypt" in problem[0]
        leaked = any(value in journal for value in values)
        assert not leaked, "a secret value is in the journal"
        assert machine.run("readlink", "/run/secrets").stdout.strip() == live
        for unit in (CONSUMER, OTHER):
            assert machine.show(unit, "ActiveState")["ActiveState"] == "active", unit
            assert invocation(machine, unit) == before[unit], unit
    finally:
        sops_file.write_bytes(good)
    # Repaired: activation succeeds again and, nothing having changed, makes no generation.
    assert activate(machine).returncode == 0
    assert machine.run("readlink", "/run/secrets").stdout.strip() == live


def test_rollback_restores_the_previous_generation(machine: Machine) -> None:
    assert machine.run("readlink", "/run/secrets").stdout.strip() == "/run/secrets.d/2"
    before_other = invocation(machine, OTHER)
    starts = len(reports(machine, CONSUMER))
    machine.run("secretsctl", "rollback", "--manifest", "/etc/secretsctl/secretsctl.yaml")
    assert machine.run("readlink", "/run/secrets").stdout.strip() == "/run/secrets.d/1"
    wait_for_reports(machine, CONSUMER, starts + 1)
    _, seen = reports(machine, CONSUMER)[-1]
    assert seen == expected_sha256(SOPS, "github_token"), "not the first generation's token"
    assert invocation(machine, OTHER) == before_other, "the unrelated consumer was restarted"


def test_reboot_starts_from_a_fresh_ramfs(machine: Machine) -> None:
    machine.poweroff()
    machine.boot()
    assert machine.run("readlink", "/run/secrets").stdout.strip() == "/run/secrets.d/1"
    assert machine.run("ls", "/run/secrets.d").stdout.split() == ["1"]
    assert machine.run("stat", "-f", "-c", "%T", "/run/secrets.d/1").stdout.strip() == "ramfs"
    state = machine.show("secretsctl-activate.service", "ActiveState", "Result")
    assert state == {"ActiveState": "active", "Result": "success"}
    ((_, seen),) = reports(machine, CONSUMER)
    assert seen == expected_sha256(live_sops(machine), "github_token")
    ((_, seen),) = reports(machine, OTHER)
    assert seen == expected_sha256(live_sops(machine), "telegram_bot_token")
