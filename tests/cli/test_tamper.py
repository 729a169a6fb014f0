"""Tampered sops files: every value of a file written by sops, edited every way, is refused.

For YAML (nested maps, lists, a list of maps, unencrypted-suffix keys, ints, bools, a float, a
timestamp), JSON, dotenv and INI files written by the real sops 3.11 binary, and for every value
in them, encrypted or not, each edit below makes a tampered copy:

- ``flip``: one character of an encrypted value's ciphertext, or of an unencrypted value;
- ``swap``: the value exchanged with the next different value of the file;
- ``move``: an encrypted value put under a new top-level key (and removed from its place);
- ``delete``: the value (and its key) removed;
- ``reorder``: the key (or list item) exchanged with a neighbour in the same container.

``secretsctl decrypt`` must fail with sops's exit code for the class (25: a value does not
decrypt; 51: MAC mismatch), print nothing on stdout and exactly one ``secretsctl: error:`` line,
and quote no plaintext value. Real ``sops decrypt`` of the same file must give the same code,
except where sops 3.11 is known to differ (a non-string plain value where ``ENC[…]`` is expected
makes it panic, exit 2). The metadata's ``mac`` and ``lastmodified`` are
tampered the same way (51). In a ``mac_only_encrypted`` file, the edits that touch only
unencrypted values decrypt fine, in both. Comments and type tags are outside the MAC in sops,
and so in secretsctl: those edits decrypt (checked separately).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from secretsctl.errors import ExitCode
from tests.conftest import SECRETSCTL, AgeKey, make_age_key, sops_binary

pytestmark = pytest.mark.interop

VALUE_FAILURE = int(ExitCode.ERROR_DECRYPTING_TREE)  # 25
MAC_FAILURE = int(ExitCode.MAC_MISMATCH)  # 51
SOPS_PANIC = 2  # sops 3.11 panics on a plain non-string where ENC[…] is expected

PLAINTEXTS: dict[str, bytes] = {
    "yaml": (
        b"# service settings\n"
        b"db:\n    user: admin-user-7f3\n    password: hunter2-pw-9q1\n    port: 5432\n"
        b"    enabled: true\n    ratio: 0.75\n"
        b"hosts:\n    - alpha.example.org\n    - beta.example.org\n"
        b"    - port: 2222\n      name: gamma-host-x1\n"
        b"public_unencrypted: visible-note-k2\ncount_unencrypted: 17\nflag_unencrypted: false\n"
        b"ports_unencrypted:\n    - 8080\n    - 8443\n"
        b"nested:\n    deeper:\n        token: tok-abc-123-zz\n        # a comment in deeper\n"
        b"        when: 2024-01-02T03:04:05Z\n"
    ),
    "json": (
        b'{"db": {"user": "admin-user-7f3", "password": "hunter2-pw-9q1", "port": 5432,'
        b' "enabled": true},\n "hosts": ["alpha.example.org", "beta.example.org",'
        b' {"port": 2222, "name": "gamma-host-x1"}],\n "public_unencrypted": "visible-note-k2",'
        b' "count_unencrypted": 17, "flag_unencrypted": false, "ports_unencrypted": [8080, 8443],\n'
        b' "nested": {"deeper": {"token": "tok-abc-123-zz", "ratio": 0.75}}}\n'
    ),
    "dotenv": (
        b"# a comment line\nDB_USER=admin-user-7f3\nDB_PASSWORD=hunter2-pw-9q1\n"
        b"API_TOKEN=tok-abc-123-zz\nPUBLIC_unencrypted=visible-note-k2\nCOUNT_unencrypted=17\n"
    ),
    "ini": (
        b"; top comment\n[db]\nuser = admin-user-7f3\npassword = hunter2-pw-9q1\n"
        b"note_unencrypted = visible-note-k2\nhost_unencrypted = public-host-q8\n\n"
        b"[api]\ntoken = tok-abc-123-zz\nport_unencrypted = 8443\nport = 9443\n"
    ),
}
SUFFIX = {"yaml": ".yaml", "json": ".json", "dotenv": ".env", "ini": ".ini"}
# Every plaintext value that is long enough not to occur by chance in a message.
PLAINTEXT_VALUES = (
    "admin-user-7f3", "hunter2-pw-9q1", "5432", "alpha.example.org", "beta.example.org",
    "gamma-host-x1", "visible-note-k2", "8080", "8443", "9443", "tok-abc-123-zz", "0.75",
    "2024-01-02", "2222", "public-host-q8",
)  # fmt: skip


# --- running both decryptors ------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    code: int
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class Env:
    key: AgeKey
    home: Path
    folder: Path

    def environ(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "SOPS_AGE_KEY_FILE": str(self.key.key_file),
        }

    def run(self, program: str, path: Path) -> Run:
        proc = subprocess.run(
            [program, "decrypt", str(path)],
            capture_output=True,
            env=self.environ(),
            cwd=self.folder,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    folder = tmp_path_factory.mktemp("tamper")
    home = folder / "home"
    home.mkdir()
    return Env(make_age_key(folder), home, folder)


def _sops_encrypt(env: Env, kind: str, mac_only: bool) -> bytes:
    source = env.folder / f"plain-{int(mac_only)}{SUFFIX[kind]}"
    source.write_bytes(PLAINTEXTS[kind])
    # The legacy `-e` form has --mac-only-encrypted; the 3.11 `encrypt` subcommand does not.
    flags = ["--mac-only-encrypted"] if mac_only else []
    proc = subprocess.run(
        [sops_binary(), "-e", "--age", env.key.recipient, *flags, str(source)],
        capture_output=True, env=env.environ(), cwd=env.folder, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


_ENCRYPTED: dict[tuple[str, bool], bytes] = {}


def encrypted(env: Env, kind: str, mac_only: bool) -> bytes:
    """The sops-written file for a store, made once per module."""
    if (kind, mac_only) not in _ENCRYPTED:
        _ENCRYPTED[kind, mac_only] = _sops_encrypt(env, kind, mac_only)
    return _ENCRYPTED[kind, mac_only]


@pytest.fixture(scope="module", autouse=True)
def _forget_files() -> Iterator[None]:
    yield
    _ENCRYPTED.clear()


# --- a line model of sops-written files ---------------------------------------------------------


@dataclass
class Slot:
    """One value of the file: where it is, its AAD path, its key and its text."""

    line: int
    path: tuple[str, ...]
    key: str | None
    value: str
    head: str = ""  # indentation (and "- ") before the key
    tail: str = ""  # what follows the value on its line (a JSON comma)
    pad: str = ""  # padding between an INI key and its "="

    @property
    def encrypted(self) -> bool:
        return self.value.strip('"').startswith("ENC[AES256_GCM,")

    @property
    def parent(self) -> tuple[str, ...]:
        return self.path[:-1] if self.key is not None else self.path

    @property
    def label(self) -> str:
        return ":".join(self.path) + ("" if self.key is not None else "[]")


@dataclass
class Model:
    """A sops-written file as lines, its value slots, and the store's way of writing a line."""

    kind: str
    lines: list[str]
    slots: list[Slot] = field(default_factory=list)

    def text(self, lines: list[str]) -> bytes:
        return ("\n".join(lines) + "\n").encode()

    def render(self, slot: Slot, key: str | None, value: str) -> str:
        if self.kind == "yaml":
            return slot.head + (f"{key}: " if key is not None else "") + value
        if self.kind == "json":
            return slot.head + (f'"{key}": ' if key is not None else "") + value + slot.tail
        if self.kind == "dotenv":
            return f"{key}={value}"
        return f"{key}{slot.pad}= {value}"

    def moved_line(self, value: str) -> str:
        return {"yaml": f"zz_moved: {value}", "json": f'\t"zz_moved": {value},',
                "dotenv": f"ZZ_MOVED={value}", "ini": f"zz_moved = {value}"}[self.kind]  # fmt: skip

    def delete(self, lines: list[str], slot: Slot) -> list[str]:
        out = list(lines)
        i = slot.line
        if self.kind == "yaml" and slot.head.endswith("- ") and slot.key is not None:
            # The first key of a mapping in a list: its next key takes the "- ".
            nxt = out[i + 1]
            assert nxt.startswith(" " * len(slot.head)) and not nxt[len(slot.head)].isspace()
            out[i] = slot.head + nxt[len(slot.head) :]
            del out[i + 1]
            return out
        del out[i]
        if self.kind == "json" and not slot.tail and out[i - 1].endswith(","):
            previous = out[i - 1]
            if len(previous) - len(previous.lstrip("\t")) == len(slot.head):
                out[i - 1] = previous[:-1]
        return out

    def insert_moved(self, lines: list[str], value: str) -> list[str]:
        out = list(lines)
        if self.kind == "yaml":
            out.insert(out.index("sops:"), self.moved_line(value))
        elif self.kind == "json":
            out.insert(1, self.moved_line(value))
        else:
            out.insert(0, self.moved_line(value))
        return out


_YAML_LINE = re.compile(
    r"^(?P<indent> *)(?P<dash>- )?(?:(?P<key>[A-Za-z_][\w]*):(?: |$))?(?P<value>.*)$"
)
_JSON_LINE = re.compile(r'^(?P<indent>\t*)(?:"(?P<key>[^"]*)": )?(?P<value>.*?)(?P<comma>,?)$')
_INI_LINE = re.compile(r"^(?P<key>[A-Za-z_]\w*)(?P<pad> *)= (?P<value>.*)$")


def parse(kind: str, data: bytes) -> Model:
    model = Model(kind, data.decode().splitlines())
    if kind == "yaml":
        stack: list[tuple[int, str]] = []
        for number, line in enumerate(model.lines):
            if line == "sops:":
                break
            if line.lstrip().startswith("#"):
                continue
            m = _YAML_LINE.match(line)
            assert m is not None
            indent = len(m["indent"])
            column = indent + (2 if m["dash"] else 0)
            head = m["indent"] + (m["dash"] or "")
            if m["key"] is None:
                path = tuple(k for c, k in stack if c < indent)
                model.slots.append(Slot(number, path, None, m["value"], head=head))
                continue
            while stack and stack[-1][0] >= column:
                stack.pop()
            path = (*(k for _, k in stack), m["key"])
            if m["value"] == "":
                stack.append((column, m["key"]))
            else:
                model.slots.append(Slot(number, path, m["key"], m["value"], head=head))
    elif kind == "json":
        keys: list[str | None] = []
        for number, line in enumerate(model.lines):
            m = _JSON_LINE.match(line)
            assert m is not None
            key, value = m["key"], m["value"]
            if key == "sops" and len(keys) == 1:
                break
            if value in ("{", "["):
                keys.append(key)
            elif value in ("}", "]"):
                keys.pop()
            else:
                parents = tuple(k for k in keys if k is not None)
                path = (*parents, key) if key is not None else parents
                model.slots.append(
                    Slot(number, path, key, value, head=m["indent"], tail=m["comma"])
                )
    elif kind == "dotenv":
        for number, line in enumerate(model.lines):
            if line.startswith("sops_"):
                break
            if line.startswith("#"):
                continue
            key, value = line.split("=", 1)
            model.slots.append(Slot(number, (key,), key, value))
    else:
        section = "DEFAULT"
        for number, line in enumerate(model.lines):
            if line.startswith("["):
                section = line.strip("[]")
                if section == "sops":
                    break
                continue
            m = _INI_LINE.match(line)
            if m is None:
                continue
            model.slots.append(
                Slot(number, (section, m["key"]), m["key"], m["value"], pad=m["pad"])
            )
    return model


# --- edits ------------------------------------------------------------------------------------


def flip_ciphertext(value: str) -> str:
    """Change the first character of the ciphertext (a different base64 character)."""
    start = value.index("data:") + len("data:")
    old = value[start]
    return value[:start] + ("B" if old == "A" else "A") + value[start + 1 :]


def change_plain(value: str) -> str:
    """Change one character of an unencrypted value, keeping its type."""
    swapped = {"true": "false", "false": "true"}
    if value in swapped:
        return swapped[value]
    for i, char in enumerate(value):
        if char.isdigit():
            return value[:i] + str((int(char) + 1) % 10) + value[i + 1 :]
        if char.isalpha():
            return value[:i] + ("b" if char == "a" else "a") + value[i + 1 :]
    raise AssertionError("nothing to change")


def is_plain_string(kind: str, value: str) -> bool:
    """Whether an unencrypted value is read as a string (else sops 3.11 panics on it)."""
    if kind in ("dotenv", "ini"):
        return True
    if kind == "json":
        return value.startswith('"')
    return not re.fullmatch(r"-?\d+(\.\d+)?|true|false", value)


@dataclass(frozen=True)
class Case:
    label: str
    data: bytes
    ours: int  # expected exit code of secretsctl
    sops: int  # expected exit code of sops 3.11


def _partner_for_swap(model: Model, slot: Slot) -> Slot:
    index = model.slots.index(slot)
    for other in model.slots[index + 1 :] + model.slots[:index]:
        if other.value != slot.value:
            return other
    raise AssertionError("no partner")


def _sibling(model: Model, slot: Slot) -> Slot | None:
    index = model.slots.index(slot)
    same = [s for s in model.slots if s is not slot and s.parent == slot.parent
            and (s.key is None) == (slot.key is None) and s.value != slot.value]  # fmt: skip
    after = [s for s in same if model.slots.index(s) > index]
    return after[0] if after else (same[-1] if same else None)


def cases(kind: str, edit: str, data: bytes, mac_only: bool) -> list[Case]:
    model = parse(kind, data)
    lines = model.lines
    clear_ok = 0 if mac_only else MAC_FAILURE  # an edit of unencrypted values only
    out: list[Case] = []
    for slot in model.slots:
        label = f"{edit} {slot.label}"
        if edit == "flip":
            new = list(lines)
            if slot.encrypted:
                new[slot.line] = model.render(slot, slot.key, flip_ciphertext(slot.value))
                expected = (VALUE_FAILURE, VALUE_FAILURE)
            else:
                new[slot.line] = model.render(slot, slot.key, change_plain(slot.value))
                expected = (clear_ok, clear_ok)
        elif edit == "swap":
            other = _partner_for_swap(model, slot)
            new = list(lines)
            new[slot.line] = model.render(slot, slot.key, other.value)
            new[other.line] = model.render(other, other.key, slot.value)
            if slot.encrypted and other.encrypted:
                same_aad = slot.path == other.path
                expected = (
                    (MAC_FAILURE, MAC_FAILURE) if same_aad else (VALUE_FAILURE, VALUE_FAILURE)
                )
            elif slot.encrypted or other.encrypted:
                plain = other if slot.encrypted else slot
                theirs = VALUE_FAILURE if is_plain_string(kind, plain.value) else SOPS_PANIC
                expected = (VALUE_FAILURE, theirs)
            else:
                expected = (clear_ok, clear_ok)
            label += f" <-> {other.label}"
        elif edit == "move":
            if not slot.encrypted:
                continue
            new = model.insert_moved(model.delete(lines, slot), slot.value)
            expected = (VALUE_FAILURE, VALUE_FAILURE)
        elif edit == "delete":
            new = model.delete(lines, slot)
            expected = (MAC_FAILURE, MAC_FAILURE) if slot.encrypted else (clear_ok, clear_ok)
        elif edit == "reorder":
            sibling = _sibling(model, slot)
            if sibling is None:
                continue
            new = list(lines)
            new[slot.line] = model.render(slot, sibling.key, sibling.value)
            new[sibling.line] = model.render(sibling, slot.key, slot.value)
            label += f" <-> {sibling.label}"
            both = slot.encrypted and sibling.encrypted
            touches_mac = both or not mac_only
            expected = (MAC_FAILURE, MAC_FAILURE) if touches_mac else (0, 0)
        else:
            raise AssertionError(edit)
        out.append(Case(label, model.text(new), *expected))
    return out


def metadata_cases(kind: str, data: bytes) -> list[Case]:
    model = parse(kind, data)
    lines = model.lines
    out = []
    start = max(s.line for s in model.slots) + 1
    mac_line = next(
        i
        for i in range(start, len(lines))
        if re.search(r"(?<![A-Za-z])mac\W.*ENC\[AES256_GCM,data:", lines[i])
    )
    stamp = re.compile(r"(lastmodified\W+\d{4}-\d\d-\d\dT\d\d:\d\d:\d)(\d)")
    lm_line = next(i for i in range(start, len(lines)) if stamp.search(lines[i]))
    new = list(lines)
    new[mac_line] = flip_ciphertext(lines[mac_line])
    out.append(Case("flip mac", model.text(new), MAC_FAILURE, MAC_FAILURE))
    new = list(lines)
    new[lm_line] = stamp.sub(lambda m: m[1] + str((int(m[2]) + 1) % 10), lines[lm_line])
    out.append(Case("change lastmodified", model.text(new), MAC_FAILURE, MAC_FAILURE))
    # One character of the first age stanza's armour: the data key no longer unwraps (128).
    new = list(lines)
    armour = next(
        i for i in range(start, len(lines)) if "-----BEGIN AGE ENCRYPTED FILE-----" in lines[i]
    )
    body = lines[armour] if kind != "yaml" else lines[armour + 1]
    at = body.index("YWdl") + 8  # inside the base64 of the age header
    changed = body[:at] + ("B" if body[at] == "A" else "A") + body[at + 1 :]
    new[armour if kind != "yaml" else armour + 1] = changed
    no_key = int(ExitCode.COULD_NOT_RETRIEVE_KEY)
    out.append(Case("flip age armour", model.text(new), no_key, no_key))
    if kind != "json":  # removing a JSON line would need its comma fixed; YAML/dotenv/INI suffice
        new = [line for i, line in enumerate(lines) if i != mac_line]
        out.append(Case("delete mac", model.text(new), MAC_FAILURE, MAC_FAILURE))
    return out


# --- checking ---------------------------------------------------------------------------------


def leaked_values(stderr: bytes) -> list[int]:
    text = stderr.decode("utf-8", "replace")
    return [i for i, value in enumerate(PLAINTEXT_VALUES) if value in text]


class Ours:
    """``secretsctl decrypt`` in this process (the console script's code path minus its exit).

    The console script costs ~75 ms a run; hundreds of cases go through ``cli.root.run`` instead,
    and ``test_in_process_and_console_script_agree`` holds the two to the same result.
    """

    def __init__(
        self, env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[bytes]
    ) -> None:
        monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(env.key.key_file))
        monkeypatch.chdir(env.folder)
        self.capsys = capsys

    def run(self, path: Path) -> Run:
        from secretsctl.cli.root import run

        code: int | str | None = 0
        try:
            run(["decrypt", str(path)])
        except SystemExit as exited:
            code = exited.code
        captured = self.capsys.readouterr()
        assert isinstance(code, int)
        return Run(code, captured.out, captured.err)


@pytest.fixture
def ours(
    env: Env, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> Ours:
    return Ours(env, monkeypatch, capsysbinary)


def _verdict_class(case: Case) -> tuple[str, int, int]:
    return (case.label.split()[0], case.ours, case.sops)


def check(env: Env, ours: Ours, kind: str, all_cases: list[Case], tmp_path: Path) -> list[str]:
    """Run every case through secretsctl, and one case of each verdict class through sops.

    Returns a description (edit and key path, never a value) of each disagreement.
    """
    paths = []
    for number, case in enumerate(all_cases):
        path = tmp_path / f"case{number}{SUFFIX[kind]}"
        path.write_bytes(case.data)
        paths.append(path)
    # sops: the first case of each (edit, our verdict, sops's verdict) class, and every case
    # that decrypts (there the two plaintexts are compared byte for byte).
    chosen: dict[tuple[str, int, int], int] = {}
    for number, case in enumerate(all_cases):
        chosen.setdefault(_verdict_class(case), number)
    to_sops = sorted(set(chosen.values()) | {n for n, c in enumerate(all_cases) if c.ours == 0})
    with ThreadPoolExecutor(max_workers=4) as pool:
        pending = {n: pool.submit(env.run, sops_binary(), paths[n]) for n in to_sops}
        mine_all = [ours.run(path) for path in paths]
        theirs_all = {n: future.result() for n, future in pending.items()}
    problems = []
    for number, (case, mine) in enumerate(zip(all_cases, mine_all, strict=True)):
        sops = theirs_all.get(number)
        if sops is not None and sops.code != case.sops:
            problems.append(f"{case.label}: sops exited {sops.code}, expected {case.sops}")
        if mine.code != case.ours:
            problems.append(f"{case.label}: secretsctl exited {mine.code}, expected {case.ours}")
            continue
        if leaked_values(mine.stderr):
            problems.append(
                f"{case.label}: stderr quotes plaintext values {leaked_values(mine.stderr)}"
            )
        if case.ours == 0:
            if sops is None or mine.stdout != sops.stdout or mine.stderr != b"":
                problems.append(f"{case.label}: decrypted, but not to what sops prints (or warned)")
            continue
        lines = mine.stderr.decode().splitlines()
        if mine.stdout != b"":
            problems.append(f"{case.label}: printed {len(mine.stdout)} bytes on stdout")
        details = lines[1:]
        if case.ours == ExitCode.COULD_NOT_RETRIEVE_KEY:
            # Only the no-key error has detail lines (recipients, locations), indented, and a hint.
            details = [d for d in details if not d.startswith(("  ", "secretsctl: hint: "))]
        if not lines or not lines[0].startswith("secretsctl: error: ") or details:
            problems.append(f"{case.label}: stderr is not one error line ({len(lines)} lines)")
        if "Traceback" in mine.stderr.decode():
            problems.append(f"{case.label}: traceback")
    return problems


EDITS = ["flip", "swap", "move", "delete", "reorder"]


@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize("kind", ["yaml", "json", "dotenv", "ini"])
def test_every_value_tampered_is_refused(
    env: Env, ours: Ours, tmp_path: Path, kind: str, edit: str
) -> None:
    all_cases = cases(kind, edit, encrypted(env, kind, mac_only=False), mac_only=False)
    assert all_cases, "no value to tamper with"
    assert all(case.ours != 0 for case in all_cases)
    problems = check(env, ours, kind, all_cases, tmp_path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", ["yaml", "json", "dotenv", "ini"])
def test_metadata_mac_and_lastmodified_tampered(
    env: Env, ours: Ours, tmp_path: Path, kind: str
) -> None:
    all_cases = metadata_cases(kind, encrypted(env, kind, mac_only=False))
    problems = check(env, ours, kind, all_cases, tmp_path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("edit", ["flip", "swap", "delete", "reorder"])
@pytest.mark.parametrize("kind", ["yaml", "json", "dotenv", "ini"])
def test_mac_only_encrypted_allows_edits_of_cleartext(
    env: Env, ours: Ours, tmp_path: Path, kind: str, edit: str
) -> None:
    every = cases(kind, edit, encrypted(env, kind, mac_only=True), mac_only=True)
    # Every edit that touches only unencrypted values, and one that touches an encrypted value
    # (which still fails).
    all_cases = [case for case in every if case.ours == 0]
    all_cases += [case for case in every if case.ours != 0][:1]
    assert len(all_cases) >= 2 and all_cases[-1].ours != 0
    problems = check(env, ours, kind, all_cases, tmp_path)
    assert not problems, "\n".join(problems)


def test_the_line_model_sees_every_value(env: Env) -> None:
    """A guard for the tests above: each store's model finds all its values with their paths."""
    counts = {
        kind: len(parse(kind, encrypted(env, kind, mac_only=False)).slots) for kind in PLAINTEXTS
    }
    assert counts == {"yaml": 16, "json": 15, "dotenv": 5, "ini": 7}
    yaml_paths = [s.label for s in parse("yaml", encrypted(env, "yaml", mac_only=False)).slots]
    assert (
        "hosts[]" in yaml_paths
        and "hosts:port" in yaml_paths
        and "nested:deeper:when" in yaml_paths
    )
    ini_paths = [s.label for s in parse("ini", encrypted(env, "ini", mac_only=False)).slots]
    assert ini_paths[0] == "db:user" and ini_paths[-1] == "api:port"


# --- what sops leaves outside the MAC: comments and type tags -------------------------------------


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


COMMENT = re.compile(r"^(\s*)(#|; )ENC\[AES256_GCM,data:")


@pytest.mark.parametrize("kind", ["yaml", "dotenv", "ini"])
def test_comments_are_outside_the_mac_as_in_sops(
    env: Env, ours: Ours, tmp_path: Path, kind: str
) -> None:
    data = encrypted(env, kind, mac_only=False)
    lines = data.decode().splitlines()
    comment_lines = [i for i, line in enumerate(lines) if COMMENT.match(line)]
    assert comment_lines
    for label, edit in [
        (
            "flip",
            lambda ls, i: [flip_ciphertext(line) if j == i else line for j, line in enumerate(ls)],
        ),
        ("delete", lambda ls, i: [line for j, line in enumerate(ls) if j != i]),
    ]:
        tampered = tmp_path / f"{label}{SUFFIX[kind]}"
        tampered.write_text("\n".join(edit(lines, comment_lines[0])) + "\n")
        mine, theirs = ours.run(tampered), env.run(sops_binary(), tampered)
        assert mine.code == theirs.code == 0, label
        assert _digest(mine.stdout) == _digest(theirs.stdout), label
        warnings = mine.stderr.decode().splitlines()
        if label == "flip":
            # sops warns ("Found possibly unencrypted comment"); so do we, in one line.
            assert b"comment" in theirs.stderr
            assert len(warnings) == 1 and warnings[0].startswith("secretsctl: warning: ")
        else:
            assert warnings == []


def test_type_tags_are_outside_aad_and_mac_as_in_sops(env: Env, ours: Ours, tmp_path: Path) -> None:
    # `type:int` → `type:str` keeps the same bytes for the MAC; sops accepts it, so must we.
    data = encrypted(env, "yaml", mac_only=False).decode()
    edited = re.sub(
        r"^(    port: ENC\[[^\]]*)type:int\]", r"\1type:str]", data, count=1, flags=re.MULTILINE
    )
    assert edited != data
    tampered = tmp_path / "type.yaml"
    tampered.write_text(edited)
    mine, theirs = ours.run(tampered), env.run(sops_binary(), tampered)
    assert mine.code == theirs.code == 0
    assert _digest(mine.stdout) == _digest(theirs.stdout)
    assert b'    port: "5432"\n' in mine.stdout
    # A type whose parse fails is a value failure in both, and we do not quote the plaintext.
    edited = re.sub(
        r"^(    user: ENC\[[^\]]*)type:str\]", r"\1type:int]", data, count=1, flags=re.MULTILINE
    )
    tampered.write_text(edited)
    mine, theirs = ours.run(tampered), env.run(sops_binary(), tampered)
    assert mine.code == theirs.code == VALUE_FAILURE
    assert mine.stdout == b""
    assert not leaked_values(mine.stderr)


@pytest.mark.parametrize("kind", ["yaml", "json", "dotenv", "ini"])
def test_in_process_and_console_script_agree(
    env: Env, ours: Ours, tmp_path: Path, kind: str
) -> None:
    """One case of each verdict class through the console script gives the in-process result."""
    chosen: dict[tuple[str, int, int], Case] = {}
    for edit in EDITS:
        for case in cases(kind, edit, encrypted(env, kind, mac_only=False), mac_only=False):
            chosen.setdefault((case.label.split()[0], case.ours, case.sops), case)
    chosen["mac", 51, 51] = metadata_cases(kind, encrypted(env, kind, mac_only=False))[0]
    assert {key[1] for key in chosen} == {VALUE_FAILURE, MAC_FAILURE}
    for number, case in enumerate(chosen.values()):
        path = tmp_path / f"c{number}{SUFFIX[kind]}"
        path.write_bytes(case.data)
        inside, outside = ours.run(path), env.run(SECRETSCTL, path)
        assert inside == outside, case.label
        assert outside.code == case.ours, case.label


# --- metadata sops validates before it decrypts: `version` and `lastmodified` ---------------------

# (value of `version`, sops 3.11.0's exit code) as observed with the binary. sops accepts any
# version starting with "1." (sops 1 was not semver), strips one leading "v", and parses the rest
# as strict semver (no leading zeros, no empty or zero-padded numeric pre-release parts, numbers
# within uint64).
VERSIONS = [
    ("3.11.0", 0), ("v3.11.0", 0), ("3.7.1", 0), ("0.0.0", 0), ("3.11.0-rc.1", 0),
    ("3.11.0+build", 0), ("3.11.0+a.b", 0), ("3.11.0-a+b", 0), ("18446744073709551615.0.0", 0),
    ("1.garbage", 0),
    ("", 1), ("garbage", 1), ("3", 1), ("3.11", 1), ("99999999999999999999.0.0", 1),
    (" 3.11.0", 1), ("3.11.0 ", 1), ("3.11.0.1", 1), ("03.11.0", 1), ("3.011.0", 1),
    ("3.11.0-", 1), ("3.11.0-01", 1), ("-1.0.0", 1), ("x3.11.0y", 1), ("vv3.11.0", 1),
    ("3.11.0-rc..1", 1), ("3.11.0+", 1), ("3.11.0-\u03b2", 1),
]  # fmt: skip

# (how `lastmodified` is rewritten, same instant unless said otherwise, sops's exit code).
LASTMODIFIED = [
    ("{date}T{time}Z", 0), ("{date}T{time}.000Z", 0), ("{date}T{time}.123456789Z", 0),
    ("{date}T{time}.1234567891Z", 0), ("{date}T{time},5Z", 0), ("{date}T{time}+00:00", 0),
    ("{date}T{time}-00:00", 0),
    ("{date}T{time}z", 1), ("{date}T{time}+0000", 1), ("{date}T{time}", 1), ("{date} {time}Z", 1),
    ("{date}t{time}Z", 1), (" {date}T{time}Z", 1), ("{date}T{time}Z ", 1), ("{date}T{time}.Z", 1),
    ("{date}T{time}+00:00:00", 1), ("{date}T{time}-1:00", 1),
    # Another instant: parses, but the MAC's AAD changes.
    ("{date}T{time}+23:59", 51), ("{date}T{time}+24:00", 51),
]  # fmt: skip


def _judge(env: Env, ours: Ours, tmp_path: Path, files: list[bytes]) -> list[tuple[int, int]]:
    paths = []
    for number, data in enumerate(files):
        path = tmp_path / f"meta{number}.yaml"
        path.write_bytes(data)
        paths.append(path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        theirs = list(pool.map(lambda p: env.run(sops_binary(), p).code, paths))
    return [(ours.run(path).code, code) for path, code in zip(paths, theirs, strict=True)]


def test_version_is_judged_as_sops_judges_it(env: Env, ours: Ours, tmp_path: Path) -> None:
    data = encrypted(env, "yaml", mac_only=False).decode()
    files = []
    for version, _ in VERSIONS:
        edited = re.sub(
            r"(?m)^    version: .*$", lambda _m, v=version: "    version: " + json_quote(v), data
        )
        files.append(edited.encode())
    results = _judge(env, ours, tmp_path, files)
    wrong = [f"version {version!r}: secretsctl {mine}, sops {theirs}, expected {code}"
             for (version, code), (mine, theirs) in zip(VERSIONS, results, strict=True)
             if (mine, theirs) != (code, code)]  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_lastmodified_is_judged_as_sops_judges_it(env: Env, ours: Ours, tmp_path: Path) -> None:
    data = encrypted(env, "yaml", mac_only=False).decode()
    stamp = re.search(r'(?m)^    lastmodified: "(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)Z"$', data)
    assert stamp is not None
    files = []
    for form, _ in LASTMODIFIED:
        value = form.format(date=stamp[1], time=stamp[2])
        files.append(data.replace(stamp[0], "    lastmodified: " + json_quote(value)).encode())
    results = _judge(env, ours, tmp_path, files)
    wrong = [f"lastmodified {form!r}: secretsctl {mine}, sops {theirs}, expected {code}"
             for (form, code), (mine, theirs) in zip(LASTMODIFIED, results, strict=True)
             if (mine, theirs) != (code, code)]  # fmt: skip
    assert not wrong, "\n".join(wrong)


def json_quote(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)
