"""keyring.unwrap_entry: one metadata entry opened with an IdentitySet (the key service's use)."""

from __future__ import annotations

from pathlib import Path

from secretsctl.keys.keyring import unwrap_entry
from secretsctl.keys.kinds import NO_MATCH, kind_named
from secretsctl.keys.sources import load_identities
from tests.conftest import make_age_key

DATA_KEY = bytes(range(32))


def test_the_entry_opens_with_the_right_identity_among_others(tmp_path: Path) -> None:
    one, two = make_age_key(tmp_path, "one.txt"), make_age_key(tmp_path, "two.txt")
    both = tmp_path / "both.txt"
    both.write_text(one.key_file.read_text() + two.key_file.read_text())
    x25519 = kind_named("X25519")
    entry = x25519.wrap(DATA_KEY, x25519.parse_recipient(two.recipient))
    identities = load_identities(use_environment=False, age_key_file=both)
    assert unwrap_entry(entry, identities) == DATA_KEY, "the data key did not come back"
    # The recorded recipient is only a hint: a wrong one still opens with the rest.
    moved = type(entry)(one.recipient, entry.enc)
    assert unwrap_entry(moved, identities) == DATA_KEY, "the data key did not come back"


def test_no_identity_and_malformed_data_say_why(tmp_path: Path) -> None:
    one, two = make_age_key(tmp_path, "one.txt"), make_age_key(tmp_path, "two.txt")
    x25519 = kind_named("X25519")
    entry = x25519.wrap(DATA_KEY, x25519.parse_recipient(one.recipient))
    others = load_identities(use_environment=False, age_key_file=two.key_file)
    assert unwrap_entry(entry, others) == NO_MATCH
    assert unwrap_entry(entry, load_identities(use_environment=False)) == "no identities to try"
    broken = type(entry)(one.recipient, "not age")
    reason = unwrap_entry(broken, others)
    assert isinstance(reason, str)
    assert reason.startswith("malformed age data"), reason
