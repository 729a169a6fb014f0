"""Hostile input for every reader: alias chains, deep nesting, huge repeats and long lines.

The readers: the sops stores (YAML through each of its loaders, JSON, dotenv, INI; plain and
encrypted), the configuration (``secretsctl.yaml``) and sops-nix's ``manifest.json``. For
every input, either it reads, within the limits of secretsctl.limits (nesting depth, and a
size proportional to the text), or exactly one ``SecretsctlError`` comes out; never another
exception. Readers run in-process under a memory bound (tests/memory_support.py) and on
inputs of bounded size, so the work is bounded; a sample goes through the console script,
memory-bounded and with a timeout as a hang guard: one ``secretsctl: error:`` line and an
exit code of the README's table.

Structured generators build what random bytes never reach: anchors and aliases chained over
up to a dozen levels (sequences, mappings, merge keys, aliases as keys, later documents),
nesting thousands of levels deep in every YAML and JSON style, megabyte scalars, tens of
thousands of keys; and byte mutations of all of these.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, find, given, settings
from hypothesis import strategies as st

from secretsctl.config import _yaml as config_yaml
from secretsctl.config.load import parse_config
from secretsctl.config.sopsnix import parse_manifest
from secretsctl.errors import SecretsctlError
from secretsctl.limits import MAX_NESTING_DEPTH
from secretsctl.sops.stores import Format
from secretsctl.sops.tree import Branch, Comment, Seq
from tests.conftest import REPO, SECRETSCTL
from tests.memory_support import memory_headroom, memory_limited
from tests.property.test_decrypt_fuzz import documented_exit_codes

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CLI_FUZZ = settings(FUZZ, max_examples=max(5, int(os.environ.get("FUZZ_EXAMPLES", "40")) // 4))

# --- generators ----------------------------------------------------------------------------

_NAMES = st.text(alphabet="abcxyz_", min_size=1, max_size=6)


@st.composite
def alias_chains(draw: st.DrawFn) -> str:
    """Anchors whose values alias the previous anchor ``fanout`` times, ``levels`` deep."""
    levels = draw(st.integers(1, 12))
    fanout = draw(st.integers(1, 12))
    kind = draw(st.sampled_from(["flow-seq", "block-seq", "flow-map", "merge", "key"]))
    suffix = draw(st.sampled_from(["", "_unencrypted"]))
    lines = [f"a0{suffix}: &a0 [" + ", ".join(["x"] * fanout) + "]"]
    if kind in ("flow-map", "merge"):
        lines[0] = f"a0{suffix}: &a0 {{" + ", ".join(f"k{j}: x" for j in range(fanout)) + "}"
    for i in range(1, levels + 1):
        alias = f"*a{i - 1}"
        if kind == "flow-seq":
            value = "[" + ", ".join([alias] * fanout) + "]"
        elif kind == "block-seq":
            value = "\n" + "".join(f"    - {alias}\n" for _ in range(fanout)).rstrip("\n")
        elif kind == "flow-map":
            value = "{" + ", ".join(f"k{j}: {alias}" for j in range(fanout)) + "}"
        elif kind == "merge":
            value = "{" + ", ".join(f"k{j}: {{<<: {alias}}}" for j in range(fanout)) + "}"
        else:  # an alias as a key: `? *a` in a flow mapping of its own
            value = "{" + ", ".join(f"? {alias} : {j}" for j in range(fanout)) + "}"
        lines.append(f"a{i}{suffix}: &a{i} {value}")
    text = "\n".join(lines) + "\n"
    where = draw(st.sampled_from(["plain", "comment", "second-document", "under-a-key"]))
    if where == "comment":
        return "--- # a comment\n" + text
    if where == "second-document":
        return "a: 1\n---\n" + text
    if where == "under-a-key":
        return "top:\n" + "".join(f"    {line}\n" for line in text.splitlines())
    return text


@st.composite
def deep_yaml(draw: st.DrawFn) -> str:
    """Nesting around the limit and far past it, in every YAML style; closed or not."""
    depth = draw(
        st.one_of(
            st.integers(MAX_NESTING_DEPTH - 3, MAX_NESTING_DEPTH + 3),
            st.integers(1, 3_000),
        )
    )
    style = draw(st.sampled_from(["flow-seq", "flow-map", "mixed", "block-map", "compact-seq"]))
    closed = draw(st.booleans())
    if style == "flow-seq":
        body = "[" * depth + "x" + ("]" * depth if closed else "")
    elif style == "flow-map":
        body = "{a: " * depth + "x" + ("}" * depth if closed else "")
    elif style == "mixed":
        body = "[{a: " * (depth // 2) + "x" + ("}]" * (depth // 2) if closed else "")
    elif style == "block-map":
        depth = min(depth, 700)  # indentation makes the text quadratic in the depth
        return "".join(" " * level + "k:\n" for level in range(depth)) + " " * depth + "k: x\n"
    else:
        return "a:\n  " + "- " * depth + "x\n"
    comment = draw(st.sampled_from(["", "  # c"]))
    return f"a: {body}{comment}\n"


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    depth = draw(
        st.one_of(st.integers(MAX_NESTING_DEPTH - 3, MAX_NESTING_DEPTH + 3), st.integers(1, 5_000))
    )
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a": ', "}")]))
    closed = draw(st.booleans())
    return '{"a": ' + opener * depth + '"x"' + (closer * depth + "}" if closed else "")


@st.composite
def huge_repeats(draw: st.DrawFn) -> str:
    """Long lines, many entries, many documents: large but flat input."""
    count = draw(st.integers(1, 20_000))
    size = draw(st.integers(1, 1_000_000))
    shape = draw(
        st.sampled_from(
            ["long-value", "long-key", "many-keys", "many-documents", "long-flow", "long-comment"]
        )
    )
    if shape == "long-value":
        return "a: " + "v" * size + "\n"
    if shape == "long-key":
        return "k" * size + ": v\n"
    if shape == "many-keys":
        return "".join(f"key{i}: value{i}\n" for i in range(count))
    if shape == "many-documents":
        return "a: 1\n---\n" * count
    if shape == "long-flow":
        return "a: [" + ", ".join(["x"] * count) + "]\n"
    return "#" + "c" * size + "\na: b\n"


def mutate(text: str, ops: list[tuple[float, int]]) -> bytes:
    data = bytearray(text.encode())
    for where, byte in ops:
        if data:
            data[int(len(data) * where)] = byte
    return bytes(data)


_MUTATIONS = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=3)
yaml_texts = st.one_of(alias_chains(), deep_yaml(), huge_repeats())
hostile_yaml = st.one_of(yaml_texts.map(str.encode), st.builds(mutate, yaml_texts, _MUTATIONS))
hostile_json = st.one_of(
    deep_json().map(str.encode), st.builds(mutate, deep_json(), _MUTATIONS), hostile_yaml
)

# --- checks --------------------------------------------------------------------------------


def outcome(call: Callable[[], Any], errors: type[BaseException] = SecretsctlError) -> Any:
    """Return what ``call`` returns, or None for an allowed error; fail on anything else.

    A wrong exception is reported by its type only: the arguments pytest would print with its
    traceback include the half-built tree, whose repr alone can exhaust memory.
    """
    try:
        with memory_headroom():
            return call()
    except errors as error:
        message = getattr(error, "message", str(error))
        assert isinstance(message, str)
        assert message.strip(), f"{type(error).__name__} with an empty message"
        code = getattr(error, "exit_code", None)
        assert code is None or int(code) in documented_exit_codes()
        return None
    except BaseException as error:
        raise AssertionError(f"{type(error).__name__} escaped the reader") from None


def nodes_and_depth(value: Any) -> tuple[int, int]:
    """Count the nodes of a tree and its nesting depth, without recursion."""
    nodes, deepest = 0, 0
    pending = [(value, 0)]
    while pending:
        item, level = pending.pop()
        nodes += 1
        if isinstance(item, Branch):
            deepest = max(deepest, level + 1)
            for key, child in item:
                if not isinstance(key, Comment):
                    pending += [(key, level + 1), (child, level + 1)]
        elif isinstance(item, Seq):
            deepest = max(deepest, level + 1)
            pending += [(child, level + 1) for child in item if not isinstance(child, Comment)]
    return nodes, deepest


def within_limits(documents: Any, data: bytes) -> None:
    """What a reader returns is no deeper than the limit, and at most about a hundred times
    the nodes the text can hold (go-yaml's share of nodes through aliases)."""
    for document in documents:
        nodes, deepest = nodes_and_depth(document)
        assert deepest <= MAX_NESTING_DEPTH
        assert nodes <= 100 * (len(data) + 10) + 1_000


def store_round(data: bytes, fmt: Format) -> None:
    store = fmt.store
    plain = outcome(lambda: store.load_plain(data))
    if plain is not None:
        within_limits(plain, data)
    encrypted = outcome(lambda: store.load_encrypted(data))
    if encrypted is not None:
        within_limits(encrypted[0], data)


# --- the stores ----------------------------------------------------------------------------


@FUZZ
@given(data=hostile_yaml)
@example(data=b"a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"a{i}_unencrypted: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n".encode() for i in range(1, 10)
))  # fmt: skip
@example(data=b"a: " + b"[" * 100_000 + b"\n")
def test_yaml_store(data: bytes) -> None:
    store_round(data, Format.YAML)


@FUZZ
@given(data=hostile_json)
@example(data=b'{"a": ' + b"[" * 100_000)
def test_json_and_binary_stores(data: bytes) -> None:
    store_round(data, Format.JSON)
    store_round(data, Format.BINARY)


@FUZZ
@given(data=st.one_of(hostile_yaml, huge_repeats().map(lambda t: t.replace(": ", "=").encode())))
def test_dotenv_and_ini_stores(data: bytes) -> None:
    store_round(data, Format.DOTENV)
    store_round(data, Format.INI)


# --- the configuration ---------------------------------------------------------------------


def config_texts() -> st.SearchStrategy[str]:
    under_secrets = yaml_texts.map(
        lambda t: "secrets:\n" + "".join(f"  {line}\n" for line in t.splitlines())
    )
    return st.one_of(yaml_texts, under_secrets)


@FUZZ
@given(text=st.one_of(config_texts(), st.builds(mutate, config_texts(), _MUTATIONS).map(
    lambda b: b.decode("utf-8", "replace")
)))  # fmt: skip
def test_configuration(text: str) -> None:
    root = outcome(lambda: config_yaml.read(text), config_yaml.YamlSyntaxError)
    if root is not None:
        assert nodes_and_depth_config(root) <= MAX_NESTING_DEPTH
    outcome(lambda: parse_config(text, "/etc/secretsctl/secretsctl.yaml"))


def nodes_and_depth_config(root: Any) -> int:
    """The depth of a configuration node tree (aliases share nodes; each counts where used)."""
    deepest = 0
    pending = [(root, 1)]
    while pending:
        (kind, value, *_), level = pending.pop()
        if kind == config_yaml.MAP:
            deepest = max(deepest, level)
            pending += [(node, level + 1) for _, node in value.values()]
        elif kind == config_yaml.SEQ:
            deepest = max(deepest, level)
            pending += [(node, level + 1) for node in value]
    return deepest


@FUZZ
@given(data=hostile_json)
def test_manifest_json(data: bytes) -> None:
    outcome(lambda: parse_manifest(data, "manifest.json", check_only=True, environ={}))


# --- the same through the console script -----------------------------------------------------


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),
        "SOPS_AGE_KEY_FILE": str(REPO / "examples" / "demo-age-key.txt"),
    }
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    done = subprocess.run(
        memory_limited([SECRETSCTL, *args]),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        cwd=cwd,
        check=False,
        timeout=60,  # a hang guard, not a timing
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode("utf-8", "replace")
    )


def clean_refusal(done: subprocess.CompletedProcess[str]) -> None:
    lines = done.stderr.splitlines()
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    assert done.returncode in documented_exit_codes()
    assert done.returncode != 0
    assert lines, "no message"
    assert lines[0].startswith("secretsctl: error: ")
    assert all(line.startswith(("secretsctl: hint: ", "  ")) for line in lines[1:]), (
        "more than one error line"
    )


@CLI_FUZZ
@given(data=st.one_of(hostile_yaml, hostile_json), suffix=st.sampled_from([".yaml", ".json"]))
def test_decrypt_through_the_console_script(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, suffix: str
) -> None:
    folder = tmp_path_factory.mktemp("decrypt")
    path = folder / f"input{suffix}"
    path.write_bytes(data)
    clean_refusal(run(["decrypt", str(path)], folder))  # no sops metadata: never a success


@CLI_FUZZ
@given(sops_file=hostile_yaml, config=st.one_of(st.none(), config_texts()))
def test_render_dry_run_through_the_console_script(
    tmp_path_factory: pytest.TempPathFactory, sops_file: bytes, config: str | None
) -> None:
    folder = tmp_path_factory.mktemp("render")
    (folder / "secrets.yaml").write_bytes(sops_file)
    text = config or "defaults:\n  sops_file: secrets.yaml\nsecrets:\n  a0: {}\n"
    (folder / "secretsctl.yaml").write_text(text)
    done = run(
        ["render", "--dry-run", "-m", "secretsctl.yaml", "--root", str(folder / "root")], folder
    )
    clean_refusal(done)
    assert not (folder / "root").exists()


def test_the_generators_reach_both_limits() -> None:
    """A guard against generators gone tame: each structured one produces refused input."""
    from secretsctl.errors import InputLimitError
    from secretsctl.sops.stores import yaml as yaml_store

    def refused_with(words: str) -> Callable[[str], bool]:
        def refused(text: str) -> bool:
            try:
                with memory_headroom():
                    yaml_store.load_plain(text.encode())
            except InputLimitError as error:
                return words in error.message
            except SecretsctlError:
                return False
            return False

        return refused

    find(alias_chains(), refused_with("expands too much"), settings=settings(database=None))
    find(deep_yaml(), refused_with("nested more than"), settings=settings(database=None))
