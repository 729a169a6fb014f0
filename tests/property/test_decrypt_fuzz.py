"""Malformed input to ``decrypt_to_bytes``, for all five stores: only ``SecretsctlError`` escapes.

Inputs: random bytes; a valid encrypted file truncated at a random point; random byte flips,
insertions and deletions; bad base64 in a value; wrong type tags; broken metadata (missing or
invalid ``lastmodified``, ``version``, ``mac``, no keys, garbage age armour); files that are not
sops files. Every exception must be a :class:`SecretsctlError` with a non-empty first line, and
no plaintext value of the file may appear in its message or hint. A few of the same inputs go
through the console script too: no traceback, and the exit code of the README's table.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secretsctl.api import decrypt_to_bytes, encrypt_to_bytes
from secretsctl.errors import ExitCode, SecretsctlError
from secretsctl.keys.sources import IdentitySet, load_identities
from secretsctl.sops.creation_rules import EncryptionSettings
from secretsctl.sops.stores import Format
from tests.conftest import REPO, SECRETSCTL, AgeKey, make_age_key

STORES = ["yaml", "json", "dotenv", "ini", "binary"]
SECRETS = ("fz-secret-Q7w9kd", "fz-other-P3k1xa", "fz-item-M2x8pq", "fz-nested-T4n6vb")
PUBLIC = "fz-public-Z5v4rt"
BINARY_PAYLOAD = b"\x00\x01fz-binary-R8c3ly\xff\xfe\n"
PLAINTEXT_VALUES = (*SECRETS, PUBLIC, "fz-binary-R8c3ly")

PLAIN = {
    "yaml": (
        f"# a comment\ntoken: {SECRETS[0]}\nother: {SECRETS[1]}\nlist:\n    - {SECRETS[2]}\n"
        f"    - 42\nnested:\n    deep: {SECRETS[3]}\n    flag: true\nnote_unencrypted: {PUBLIC}\n"
    ).encode(),
    "json": json.dumps(
        {
            "token": SECRETS[0],
            "other": SECRETS[1],
            "list": [SECRETS[2], 42],
            "nested": {"deep": SECRETS[3], "flag": True},
            "note_unencrypted": PUBLIC,
        }
    ).encode(),
    "dotenv": (
        f"# a comment\nTOKEN={SECRETS[0]}\nOTHER={SECRETS[1]}\nITEM={SECRETS[2]}\n"
        f"DEEP={SECRETS[3]}\nNOTE_unencrypted={PUBLIC}\n"
    ).encode(),
    "ini": (
        f"; a comment\n[main]\ntoken = {SECRETS[0]}\nother = {SECRETS[1]}\n[more]\n"
        f"item = {SECRETS[2]}\ndeep = {SECRETS[3]}\nnote_unencrypted = {PUBLIC}\n"
    ).encode(),
    "binary": BINARY_PAYLOAD,
}

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Key:
    """A throw-away key; its repr (printed by hypothesis for a failing example) shows no secret."""

    def __init__(self, key: AgeKey) -> None:
        self.recipient = key.recipient
        self.key_file = key.key_file

    def __repr__(self) -> str:
        return f"Key({self.recipient})"


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Key:
    return Key(make_age_key(tmp_path_factory.mktemp("fuzz-key")))


@pytest.fixture(scope="module")
def identities(key: Key) -> IdentitySet:
    return load_identities(use_environment=False, age_key_file=key.key_file)


@cache
def _encrypted(recipient: str, store: str) -> bytes:
    fmt = Format(store)
    return encrypt_to_bytes(
        PLAIN[store],
        input_format=fmt,
        output_format=fmt,
        settings=EncryptionSettings(key_groups=((recipient,),)),
        label=f"plain.{store}",
    )


def encrypted(key: Key, store: str) -> bytes:
    return _encrypted(key.recipient, store)


def attempt(data: bytes, store: str, identities: IdentitySet) -> bytes | None:
    """Decrypt; return the output, or None after checking the error that came out."""
    fmt = Format(store)
    try:
        result = decrypt_to_bytes(
            data, input_format=fmt, output_format=fmt, identities=identities, label="fuzzed"
        )
    except SecretsctlError as exc:
        error = exc
    else:
        return result.output.reveal()
    message = error.message
    first = message.splitlines()[0] if isinstance(message, str) and message else ""
    assert first.strip(), f"{type(error).__name__} with an empty first line"
    assert int(error.exit_code) != 0
    shown = f"{message}\n{error.hint or ''}\n{error}"
    leaked = [i for i, value in enumerate(PLAINTEXT_VALUES) if value in shown]
    assert not leaked, f"{type(error).__name__} quotes plaintext value(s) {leaked}"
    return None


def test_the_base_files_decrypt(key: Key, identities: IdentitySet) -> None:
    for store in STORES:
        out = attempt(encrypted(key, store), store, identities)
        assert out is not None, store
        if store == "binary":
            assert out == BINARY_PAYLOAD


# --- arbitrary and mutated bytes ------------------------------------------------------------


@pytest.mark.parametrize("store", STORES)
@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes(identities: IdentitySet, store: str, data: bytes) -> None:
    assert attempt(data, store, identities) is None


@pytest.mark.parametrize("store", STORES)
@FUZZ
@given(cut=st.floats(0, 1, exclude_max=True))
def test_truncated(key: Key, identities: IdentitySet, store: str, cut: float) -> None:
    base = encrypted(key, store)
    data = base[: int(len(base) * cut)]
    out = attempt(data, store, identities)
    # A cut that keeps the whole file (up to trailing newlines) may still decrypt; then it
    # decrypts to the original.
    if out is not None:
        assert base[len(data) :].strip() == b""


_OPS = st.tuples(
    st.sampled_from(["flip", "insert", "delete"]),
    st.floats(0, 1, exclude_max=True),
    st.integers(1, 255),
)


@pytest.mark.parametrize("store", STORES)
@FUZZ
@given(ops=st.lists(_OPS, min_size=1, max_size=4))
def test_byte_mutations(
    key: Key, identities: IdentitySet, store: str, ops: list[tuple[str, float, int]]
) -> None:
    data = bytearray(encrypted(key, store))
    for op, where, byte in ops:
        at = int(len(data) * where)
        if op == "flip":
            data[at] ^= byte
        elif op == "insert":
            data.insert(at, byte)
        else:
            del data[at]
    attempt(bytes(data), store, identities)


# --- targeted damage ----------------------------------------------------------------------

_ENC = re.compile(
    rb"ENC\[AES256_GCM,data:(?P<data>[^,\]]*),iv:(?P<iv>[^,\]]*),tag:(?P<tag>[^,\]]*),type:(?P<type>[^\]]*)\]"
)
_BASE64_NOISE = st.text(alphabet="ABCDabcd0123+/=!*-_. ", min_size=0, max_size=24)


@pytest.mark.parametrize("store", STORES)
@FUZZ
@given(which=st.integers(0, 100), part=st.sampled_from(["data", "iv", "tag"]), noise=_BASE64_NOISE)
def test_bad_base64_in_a_value(
    key: Key, identities: IdentitySet, store: str, which: int, part: str, noise: str
) -> None:
    base = encrypted(key, store)
    matches = list(_ENC.finditer(base))
    match = matches[which % len(matches)]
    start, end = match.span(part)
    data = base[:start] + noise.encode() + base[end:]
    out = attempt(data, store, identities)
    if out is not None:
        # A comment that does not decrypt is kept as it is (sops only warns); a value may still
        # decrypt only if the new text encodes the same bytes.
        assert match["type"] == b"comment" or _same_base64(noise.encode(), base[start:end])


def _same_base64(a: bytes, b: bytes) -> bool:
    import base64
    import binascii

    try:
        return base64.b64decode(a) == base64.b64decode(b)
    except (binascii.Error, ValueError):
        return False


TYPE_TAGS = [
    "bytes",
    "nope",
    "",
    "STR",
    "Str",
    "int",
    "float",
    "bool",
    "time",
    "comment",
    "str ",
    "str\x00",
]


@pytest.mark.parametrize("store", STORES)
@FUZZ
@given(which=st.integers(0, 100), tag=st.sampled_from(TYPE_TAGS))
def test_wrong_type_tags(
    key: Key, identities: IdentitySet, store: str, which: int, tag: str
) -> None:
    base = encrypted(key, store)
    matches = list(_ENC.finditer(base))
    match = matches[which % len(matches)]
    start, end = match.span("type")
    attempt(base[:start] + tag.encode() + base[end:], store, identities)


def _field_pattern(store: str, name: str) -> re.Pattern[bytes]:
    """The line (or JSON member) of a metadata field, with its value as group 2."""
    field = re.escape(name.encode())
    if store == "yaml":
        return re.compile(rb"(?m)^(    " + field + rb": )(.*)$")
    if store in ("json", "binary"):
        return re.compile(rb'(\t\t"' + field + rb'": )("(?:[^"\\]|\\.)*")')
    if store == "dotenv":
        return re.compile(rb"(?m)^(sops_" + field + rb"=)(.*)$")
    return re.compile(rb"(?m)^(" + field + rb" *= )(.*)$")


def set_field(store: str, data: bytes, name: str, value: str | None) -> bytes:
    """Replace a metadata field's value (JSON-quoted where needed), or remove the field."""
    if store in ("json", "binary"):
        document = json.loads(data)
        if value is None:
            document["sops"].pop(name, None)
        else:
            document["sops"][name] = value
        return json.dumps(document, indent="\t").encode() + b"\n"
    pattern = _field_pattern(store, name)
    assert pattern.search(data), name
    if value is None:
        return pattern.sub(b"", data)
    text = json.dumps(value).encode() if store == "yaml" else value.replace("\n", " ").encode()
    return pattern.sub(lambda m: m[1] + text, data)


def drop_keys(store: str, data: bytes) -> bytes:
    if store in ("json", "binary"):
        document = json.loads(data)
        document["sops"].pop("age")
        return json.dumps(document, indent="\t").encode() + b"\n"
    if store == "yaml":
        return re.sub(rb"(?ms)^    age:\n.*?(?=^    \S)", b"", data)
    prefix = rb"sops_age__" if store == "dotenv" else rb"age__"
    return re.sub(rb"(?m)^" + prefix + rb".*\n", b"", data)


_ARMOUR = re.compile(
    rb"(?s)(-----BEGIN AGE ENCRYPTED FILE-----)(.*?)(-----END AGE ENCRYPTED FILE-----)"
)

FIELD_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "garbage",
            "2026-13-45T99:99:99Z",
            "2026-11-25T08:30:20z",
            "3",
            "3.11",
            "v3.11.0",
            "99999999999999999999.0.0",
            "3.11.0-rc.1",
            "ENC[AES256_GCM,data:,iv:,tag:,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]",
            "1970-01-01T00:00:00Z",
            "2026-11-25T08:30:20+24:00",
            "0001-01-01T00:00:00Z",
        ]
    ),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='\n\r\\"'),
        max_size=30,
    ),
)


@pytest.mark.parametrize("store", STORES)
@FUZZ
@given(
    name=st.sampled_from(["lastmodified", "version", "mac"]),
    value=st.one_of(st.none(), FIELD_VALUES),
)
def test_broken_metadata_fields(
    key: Key, identities: IdentitySet, store: str, name: str, value: str | None
) -> None:
    base = encrypted(key, store)
    assert (
        attempt(set_field(store, base, name, value), store, identities) is None or name == "version"
    )


@pytest.mark.parametrize("store", STORES)
@FUZZ
@given(
    junk=st.one_of(
        st.binary(max_size=120).map(lambda b: base64.b64encode(b).decode()),
        st.text(alphabet="AGEage-=+/!\\ ", max_size=40),
    )
)
def test_no_keys_or_garbage_armour(
    key: Key, identities: IdentitySet, store: str, junk: str
) -> None:
    base = encrypted(key, store)
    assert attempt(drop_keys(store, base), store, identities) is None
    damaged = _ARMOUR.sub(lambda m: m[1] + junk.encode() + m[3], base, count=1)
    assert attempt(damaged, store, identities) is None


@pytest.mark.parametrize("store", STORES)
def test_not_a_sops_file(identities: IdentitySet, store: str) -> None:
    attempts = [PLAIN[store], b"", b"\n", b"sops: 1\n", b'{"sops": []}', b"sops_=x\n", b"[sops]\n"]
    for data in attempts:
        assert attempt(data, store, identities) is None


# --- the same through the console script ----------------------------------------------------


def documented_exit_codes() -> set[int]:
    text = (REPO / "README.md").read_text()
    return {int(m) for m in re.findall(r"^\| +(\d+) \|", text, flags=re.MULTILINE)}


def _cli_inputs(key: Key) -> list[tuple[str, str, bytes, int]]:
    """(label, store, bytes, expected exit code): one input of each failure class."""
    yaml_file, json_file = encrypted(key, "yaml"), encrypted(key, "json")
    first = next(m for m in _ENC.finditer(yaml_file) if m["type"] != b"comment")
    start, end = first.span("data")
    dotenv_file, ini_file = encrypted(key, "dotenv"), encrypted(key, "ini")
    value_failure = ExitCode.ERROR_DECRYPTING_TREE
    unparsable = ExitCode.GENERIC  # an encrypted file that does not parse: 1, as in sops
    return [
        ("random-bytes", "yaml", b"\x00\xff: [\x01", unparsable),
        ("truncated-json", "json", json_file[: len(json_file) // 2], unparsable),
        ("no-equals-dotenv", "dotenv", b"garbage\n", unparsable),
        ("unclosed-ini", "ini", b"[a\nb", unparsable),
        ("not-json-binary", "binary", b"zzz", unparsable),
        ("empty", "yaml", b"", ExitCode.GENERIC),  # no sops metadata
        ("not-sops", "yaml", PLAIN["yaml"], ExitCode.GENERIC),
        ("bad-version", "yaml", set_field("yaml", yaml_file, "version", "v3"), ExitCode.GENERIC),
        (
            "no-lastmodified",
            "dotenv",
            set_field("dotenv", dotenv_file, "lastmodified", None),
            ExitCode.GENERIC,
        ),
        ("no-mac", "ini", set_field("ini", ini_file, "mac", None), ExitCode.MAC_MISMATCH),
        ("bad-base64", "yaml", yaml_file[:start] + b"!!!!" + yaml_file[end:], value_failure),
        ("type-nope", "yaml", yaml_file.replace(b"type:str]", b"type:nope]", 1), value_failure),
        ("type-bytes", "json", json_file.replace(b"type:str]", b"type:bytes]", 1), value_failure),
        (
            "garbage-armour",
            "binary",
            _ARMOUR.sub(rb"\1QUJD\3", encrypted(key, "binary")),
            ExitCode.COULD_NOT_RETRIEVE_KEY,
        ),
        ("no-keys", "yaml", drop_keys("yaml", yaml_file), ExitCode.GENERIC),
    ]  # fmt: skip


SUFFIX = {"yaml": ".yaml", "json": ".json", "dotenv": ".env", "ini": ".ini", "binary": ".bin"}


def _run(program: str, key: Key, path: Path) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(path.parent),
           "SOPS_AGE_KEY_FILE": str(key.key_file)}  # fmt: skip
    return subprocess.run(
        [program, "decrypt", str(path)], capture_output=True, env=env, cwd=path.parent, check=False
    )


def test_console_script_exit_codes(key: Key, tmp_path: Path) -> None:
    documented = documented_exit_codes()
    wrong = []
    for label, store, data, expected in _cli_inputs(key):
        path = tmp_path / f"{label}{SUFFIX[store]}"
        path.write_bytes(data)
        proc = _run(SECRETSCTL, key, path)
        err = proc.stderr.decode("utf-8", "replace")
        assert "Traceback" not in err, label
        assert proc.stdout == b"", label
        assert err.startswith("secretsctl: error: "), label
        assert proc.returncode in documented, label
        assert not [v for v in PLAINTEXT_VALUES if v in err], label
        if proc.returncode != expected:
            wrong.append(f"{label}: exit {proc.returncode}, expected {int(expected)}")
    assert not wrong, "\n".join(wrong)


# Where sops 3.11 itself exits otherwise: it panics (exit 2) on `type:bytes` (3.13.2 reports an
# error).
SOPS_DIFFERS = {"type-bytes": 2}


@pytest.mark.interop
def test_sops_exits_the_same_on_these_inputs(key: Key, tmp_path: Path) -> None:
    from tests.conftest import sops_binary

    wrong = []
    for label, store, data, expected in _cli_inputs(key):
        path = tmp_path / f"{label}{SUFFIX[store]}"
        path.write_bytes(data)
        code = _run(sops_binary(), key, path).returncode
        if code != SOPS_DIFFERS.get(label, int(expected)):
            wrong.append(f"{label}: sops exit {code}, secretsctl's expected {int(expected)}")
    assert not wrong, "\n".join(wrong)
