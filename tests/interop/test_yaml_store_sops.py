"""The YAML store against the real sops 3.11.0 binary.

For every input, sops is the oracle:

- encryption side: the file sops writes equals what our emitter writes for our tree of the
  same plaintext, once encrypted (ciphertexts aside);
- decryption side: our tree of sops's file, decrypted as sops decrypts (a comment that does not
  decrypt at its new place is kept as it is), prints exactly what ``sops decrypt`` prints;
- when sops's own pipeline is stable (its decryption gives back the tree it encrypted), also
  ``emit_plain(load_plain(x)) == sops decrypt (sops encrypt x)``, the encrypted file has the
  plaintext's tree shape, and ``emit_encrypted(load_encrypted(file))`` is the file byte for byte;
- inputs sops refuses, we refuse, with the same exit code.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from secretsctl.errors import SecretsctlError
from secretsctl.sops.grammar import from_plaintext, parse_enc
from secretsctl.sops.stores import yaml as store
from secretsctl.sops.tree import Branch, Comment, CryptRule, Seq, walk
from tests.conftest import Sops
from tests.property.test_yaml_store import canonical, same, trees

pytestmark = pytest.mark.interop

_FAKE = "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]"
_ENC_RE = re.compile(rb"ENC\[AES256_GCM,[^\]]*\]")

CORPUS: dict[str, str] = {
    "scalars": (
        'a: 1\nb: two\nc: 1.5\nd: true\ne: null\nf: ""\ng: "no"\nh: "1e3"\ni: "0x1F"\nj: "~"\n'
        "k: ' lead'\nl: 'trail '\nm: \"multi\\nline\"\nn: \"multi\\nline\\n\\n\"\n"
        "o: |\n  literal\n    indented\n  end\np: >\n  folded text\n  continues\n\n  para\n"
        'q: "a: b"\nr: "x #y"\ns: "- x"\nt: "it\'s"\nu: "tab\\there"\nv: "é ü 日本"\n'
        'w: "emoji 🎉"\nx: "\\u0007bell"\ny: "\\ufeffbom"\nz: "---"\naa: 2024-01-02\n'
        "ab: 2024-01-02T03:04:05.123+02:00\nac: 1_000\nad: 017\nae: 0o17\naf: 0x1F\nag: +5\n"
        "ah: .inf\nai: -.inf\naj: .nan\nak: 1e20\nal: 1234567.5\nam: 0.000001\nan: -0.0\n"
        'ao: 5.\nap: yes\naq: on\nar: "1:20"\nas: "True"\nat: "y"\nau: " "\nav: "\\n"\n'
        'aw: "a\\n b"\nax: "a \\nb"\nay: "\\r\\n"\naz: 08\nba: 0b-101\nbb: 1e400\n'
        "bc: 18446744073709551616\nbd: 2001-12-14  21:59:43,10\n"
    ),
    "collections": (
        "list:\n  - a\n  - b\n  - - x\n    - y\n  - k: v\n    k2: v2\n  - []\n  - {}\n"
        "  - - - deep\nnested:\n  m:\n    n:\n      o: p\n  empty_map: {}\n  empty_list: []\n"
        '"key with spaces": 1\n"n": n\n"y": 1\n"": empty key\n"1": string one\n'
        '? "multi\\nline key"\n: v\n"' + "k" * 130 + '": long\nünïcödé: ✓\n"a:b": colon\n'
        '"-dash": 1\n"?q": 1\nnest:\n  "<<": merge string\n'
    ),
    "anchors": (
        "base: &b\n  x: 1\n  y: two\nlist: &l [1, 2]\nprod:\n  <<: *b\n  z: 3\nagain: *l\n"
        "scal: &s hello\nref: *s\nmerged:\n  <<: [*b, {w: 1}]\n"
    ),
    "documents": "a: 1\n---\nb: 2\n---\n---\nc: [1]\n",
    "lone-document-start": "---\n",
    "tags": (
        "bin: !!binary aGVsbG8=\nnonutf: !!binary /w==\nlong: !!binary " + "/" * 96 + "\n"
        "str: !!str 12\nfl: !!float 3\ncustom: !foo bar\n"
    ),
    "comments": (
        "# top comment\na: 1 # inline a\n# before b\nb:\n  # inside b first\n  c: 2\n"
        "  d: 3 # inline d\n  # end of b\n# dedented after b\ne:\n  - x # inline x\n"
        "  # between items\n  - y\n  # end of list\nf: |\n  block\n# after block\n"
        "g: \"quoted # not comment\"\nh: 'x' # c\ni: &anc\n  k: v # kv\nj: *anc\n# final\n"
    ),
    "comments-blank-lines": (
        "# head 1\n\n# head 2 after blank\na: 1\n\n# between with blank\n\nb: 2\nlist:\n"
        "- a # indentless\n# dedented in indentless\n- b\n- k: v\n  # in map in list\n"
        "  k2: v2\n  # end map in list\n- - nested # n\n  - n2\n  # end nested\n"
        "# after list\nm:\n  n:\n    o: 1\n    # end o\n  # end n\n# end m\nz: 0\n"
    ),
    "comments-documents": (
        "---\n# after doc start\na: 1 # l\n---\n# doc2 head\nb: 2\n# doc2 foot\n"
        "--- # same line\nc: 3\n...\n# after dots\n---\nd: 4\n"
    ),
    "comments-flow-and-headers": (
        "a: [1, 2] # flow line\nb: {x: 1} # flow map line\nc: [1, # in flow\n  2]\n"
        "d: |  # block header comment\n  text\ne: >- # folded header\n  folded\n  text\n"
        "f: # key line comment\n  g: 1\nh: # key line comment on seq\n  - 1\ni:\n"
        "  - # seq entry comment\n    j: 1\n  - # entry alone\n    - deep\n"
        'k: "x" # after quoted\nl: ~ # null comment\nm: # empty value comment\nn: end\n'
    ),
    "comments-odd-indentation": (
        "key:\n    # 4-indented comment\n    sub: 1\n    # trailing 4\n        # deeper 8\n"
        "  # odd 2\nother: 2\n   # weird 3 at end\n"
    ),
    "comments-dedented": (
        "a:\n  b:\n    c: 1\n# zero\n    # four after zero\nd: 1\ne:\n  - f: 1\n"
        "    # g-level\n  # seq-level\n# top\nh:\n  - 1\n\n  # after blank in seq\n  - 2\n"
    ),
    "comments-after-nested-block": (
        'k02:\n    # c1\n    k10:\n        # c2\n        k0: 1\n        k1: "y"\n    # c3\n'
        "# c4\nk03: z\n"
    ),
    "comments-after-dash": "a:\n  -\n    - # c3\n      k40: x # c28\n      k41: y\n",
    "comments-crlf": "a: 1\r\n# c\r\nl:\r\n  - x\r\n  # between\r\n  - y # line\r\nb: 2\r\n",
    "comments-tabs": "# one\n\t\n\t# two\na: 1\n",
    "comments-unicode": "# ünïcödé 🎉\nkey: value # ✓\n",
    "sops-nix-like": (
        "# Secrets for the host\nhello: world\nkey: |\n  -----BEGIN PRIVATE KEY-----\n"
        "  MC4CAQAwBQYDK2VwBCIEIA==\n  -----END PRIVATE KEY-----\n"
        "nested:\n  # token for the CI\n  token: ghp_xxx\n  port_unencrypted: 8080\n"
        "users:\n  - name: alice\n    password: hunter2\n  - name: bob\n    password: x\n"
    ),
}

# sops's own decryption of these files places some comments elsewhere than its encryption
# read them (it re-reads the comments it wrote), so its round trip is not a fixpoint.
SOPS_UNSTABLE = {"comments-after-dash", "comments-flow-and-headers"}


def sops_encrypt(sops: Sops, data: bytes, *extra: str) -> Any:
    types = ("--input-type", "yaml", "--output-type", "yaml")
    return sops.run(
        "encrypt", *types, *extra, "--age", sops.key.recipient, "/dev/stdin", input=data
    )


def sops_decrypt(sops: Sops, data: bytes, *extra: str) -> Any:
    types = ("--input-type", "yaml", "--output-type", "yaml")
    return sops.run("decrypt", *types, *extra, "/dev/stdin", input=data)


def fake_encrypt(documents: list[Branch]) -> list[Branch]:
    """Encrypt as sops's walk does, with one placeholder ciphertext for every value."""

    def on_leaf(value: Any, aad: str, encrypted: bool, is_comment: bool) -> Any:
        if not encrypted:
            return value
        if is_comment:
            return value if value.text == "" else _FAKE
        return value if value == "" else _FAKE

    walk(documents, CryptRule(), on_leaf)
    return documents


def decrypt_like_sops(documents: list[Branch], metadata: Branch, identity: str) -> list[Branch]:
    """Decrypt in place as sops does: a comment that fails to decrypt is kept as it is."""
    import pyrage
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    armoured = metadata.get("age")[0].get("enc")
    key = pyrage.decrypt(armoured.encode(), [pyrage.x25519.Identity.from_str(identity)])
    aes = AESGCM(key)

    def on_leaf(value: Any, aad: str, encrypted: bool, is_comment: bool) -> Any:
        text = value.text if is_comment else value
        if not (isinstance(text, str) and text.startswith("ENC[")):
            return value
        data, iv, tag, type_tag = parse_enc(text)
        try:
            plain = aes.decrypt(iv, data + tag, aad.encode())
        except InvalidTag:
            if is_comment:
                return value
            raise
        return from_plaintext(type_tag, plain)

    walk(documents, CryptRule(), on_leaf)
    return documents


def shape(value: Any) -> Any:
    """The tree with every leaf (and comment text) replaced by a marker of its position."""
    if isinstance(value, Branch):
        return [("#" if isinstance(k, Comment) else k, shape(v)) for k, v in value]
    if isinstance(value, list):
        return ["#" if isinstance(v, Comment) or _is_enc_comment(v) else shape(v) for v in value]
    return None if value is None else "leaf"


def _is_enc_comment(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("ENC[") and value.endswith("type:comment]")


def check(sops: Sops, name: str, text: str) -> bool:
    """Every property for one input; return whether sops's round trip is stable."""
    data = text.encode()
    encrypted = sops_encrypt(sops, data)
    assert encrypted.returncode == 0, f"sops refused corpus entry {name}"
    enc = encrypted.stdout
    decrypted = sops_decrypt(sops, enc)
    assert decrypted.returncode == 0, f"sops could not decrypt its own file for {name}"
    out = decrypted.stdout

    plain = store.load_plain(data)
    documents, metadata = store.load_encrypted(enc)
    mine = store.emit_encrypted(fake_encrypt(store.load_plain(data)), metadata)
    assert _ENC_RE.sub(b"ENC[]", mine) == _ENC_RE.sub(b"ENC[]", enc), f"encryption side: {name}"

    decrypted_tree = decrypt_like_sops(documents, metadata, sops.key.identity)
    assert store.emit_plain(decrypted_tree) == out, f"decryption side: {name}"

    stable = b"#ENC[" not in out and same(decrypted_tree, plain)
    if stable:
        assert store.emit_plain(plain) == out, f"plain round trip: {name}"
        again, meta_again = store.load_encrypted(enc)
        assert shape(again) == shape(plain), f"tree shape of the encrypted file: {name}"
        assert store.emit_encrypted(again, meta_again) == enc, f"re-emit: {name}"
    return stable


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus(session_sops: Sops, name: str) -> None:
    stable = check(session_sops, name, CORPUS[name])
    assert stable is (name not in SOPS_UNSTABLE), f"stability of {name}"


# --- generated files full of comments ------------------------------------------------------

_COMMENT_TEXTS = ["", " c", "  two", " x: y", " - z", "#hash", " é"]
_WORDS = ["a", "x y", "n", "on", "1", "0x1F", "é", "🎉", "~", "null", "true", "1.5", "2024-01-02"]


def generated(seed: int) -> str:
    """Random block YAML with comments at random places and indentations (valid or not)."""
    rng = random.Random(seed)
    lines: list[str] = []

    def comment() -> str:
        return "#" + rng.choice(_COMMENT_TEXTS) + str(rng.randint(0, 99))

    def comments(indent: int) -> None:
        while rng.random() < 0.3:
            if rng.random() < 0.2:
                lines.append("")
            lines.append(" " * max(0, indent + rng.choice([-4, -2, 0, 0, 2, 4])) + comment())

    def inline() -> str:
        return " " + comment() if rng.random() < 0.25 else ""

    def scalar() -> str:
        word = rng.choice(_WORDS)
        return rng.choice([word, f'"{word}"', f"'{word}'", str(rng.randint(0, 99))])

    def mapping(indent: int, depth: int) -> None:
        for i in range(rng.randint(1, 4)):
            comments(indent)
            pad = " " * indent
            kind = rng.random()
            if depth > 2 or kind < 0.5:
                lines.append(f"{pad}k{depth}{i}: {scalar()}{inline()}")
            elif kind < 0.6:
                lines.append(f"{pad}k{depth}{i}: |{inline()}")
                lines.append(pad + "  text")
            elif kind < 0.8:
                lines.append(f"{pad}k{depth}{i}:{inline()}")
                mapping(indent + rng.choice([2, 4]), depth + 1)
            else:
                lines.append(f"{pad}k{depth}{i}:{inline()}")
                sequence(indent + rng.choice([0, 2]), depth + 1)
        comments(indent)

    def sequence(indent: int, depth: int) -> None:
        for _ in range(rng.randint(1, 3)):
            comments(indent)
            if depth > 2 or rng.random() < 0.6:
                lines.append(f"{' ' * indent}- {scalar()}{inline()}")
            else:
                lines.append(f"{' ' * indent}-{inline()}")
                mapping(indent + 2, depth + 1)
        comments(indent)

    comments(0)
    mapping(0, 0)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(16))
def test_generated_comment_placement(session_sops: Sops, seed: int) -> None:
    text = generated(seed)
    data = text.encode()
    encrypted = sops_encrypt(session_sops, data)
    if encrypted.returncode:
        with pytest.raises(SecretsctlError):
            store.load_plain(data)
        return
    decrypted = sops_decrypt(session_sops, encrypted.stdout)
    if decrypted.returncode:
        with pytest.raises(SecretsctlError):
            store.load_encrypted(encrypted.stdout)
        return
    check(session_sops, f"seed {seed}", text)


# --- trees written by us, read back by sops -----------------------------------------------


def _without_empty_list_comments(value: Any) -> Any:
    if isinstance(value, Branch):
        return Branch((k, _without_empty_list_comments(v)) for k, v in value)
    if isinstance(value, list):
        return Seq(
            _without_empty_list_comments(v)
            for v in value
            if not (isinstance(v, Comment) and v.text == "")
        )
    return value


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(trees(comments=True))
def test_sops_reads_what_we_write(session_sops: Sops, tree: Branch) -> None:
    # sops's encryption turns an empty comment in a list into an empty string (its cipher
    # returns "" for empty plaintext and walkSlice stores that in place of the comment).
    tree = _without_empty_list_comments(canonical(tree))
    text = store.emit_plain([tree])
    encrypted = sops_encrypt(session_sops, text)
    if encrypted.returncode == 2:
        # yaml.v3 writes a block scalar that starts with a space or a line break with an
        # indentation indicator of 4 even where its content is not 4 deeper than its parent
        # (in a list, or a mapping in a list): sops cannot read what it writes there, and
        # neither can we.
        with pytest.raises(SecretsctlError):
            store.load_plain(text)
        return
    if encrypted.returncode:
        # A tree sops cannot encrypt (a uint64 leaf).
        assert encrypted.returncode == 23, "sops refused a file we wrote"
        return
    decrypted = sops_decrypt(session_sops, encrypted.stdout)
    assert decrypted.returncode == 0, "sops could not decrypt its encryption of our file"
    assert decrypted.stdout == text, "sops prints our file differently"


# --- --extract ------------------------------------------------------------------------------

EXTRACT_SOURCE = (
    "i: 42\nf: 1.5\nb: true\nn: null\nt: 2024-01-02\nlist:\n  - a\n  # c in list\n"
    "  - b: 1\n    c: [1, 2]\n  - - x\nempty: []\nnested:\n  k: v\n  # foot\n"
    "l2:\n  - a:\n      b: [1]\n"
)


def test_emit_value_matches_extract(session_sops: Sops) -> None:
    encrypted = sops_encrypt(session_sops, EXTRACT_SOURCE.encode()).stdout
    document = store.load_plain(EXTRACT_SOURCE.encode())[0]
    for path, value in [
        ('["i"]', document.get("i")),
        ('["f"]', document.get("f")),
        ('["b"]', document.get("b")),
        ('["n"]', document.get("n")),
        ('["t"]', document.get("t")),
        ('["list"]', document.get("list")),
        ('["list"][1]', document.get("list")[1]),
        ('["list"][3]', document.get("list")[3]),
        ('["empty"]', document.get("empty")),
        ('["l2"]', document.get("l2")),
    ]:
        result = sops_decrypt(session_sops, encrypted, "--extract", path)
        assert result.returncode == 0, f"sops --extract {path}"
        assert store.emit_value(value) == result.stdout, f"--extract {path}"
    # A mapping is printed as a plain file.
    result = sops_decrypt(session_sops, encrypted, "--extract", '["nested"]')
    assert store.emit_plain([document.get("nested")]) == result.stdout


# --- refusals -------------------------------------------------------------------------------

REFUSED = {
    "empty": (b"", 92),
    "blank": (b"\n\n", 2),
    "comment-only": (b"# nothing\n", 2),
    "top-level-sequence": (b"- a\n", 2),
    "scalar-document": (b"just text\n", 2),
    "second-document-sequence": (b"a: 1\n---\n- x\n", 2),
    "duplicate-key": (b"a: 1\na: 2\n", 2),
    "unknown-anchor": (b"a: *x\n", 2),
    "recursive-anchor": (b"a: &x [*x]\n", 2),
    "bad-tag": (b"a: !!int abc\n", 2),
    "bad-binary": (b"a: !!binary '!!'\n", 2),
    "complex-key": (b"? [a]\n: 1\n", 2),
    "bad-merge": (b"<<: 1\n", 2),
    "yaml-1.2": (b"%YAML 1.2\n---\na: 1\n", 2),
    "invalid-utf8": (b"a: \xff\n", 2),
    "syntax": (b"a: [1\n", 2),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_like_sops(session_sops: Sops, name: str) -> None:
    data, code = REFUSED[name]
    result = sops_encrypt(session_sops, data)
    assert result.returncode == code, f"sops exit code for {name}"
    with pytest.raises(SecretsctlError) as info:
        store.load_plain(data)
    assert info.value.exit_code == code


def test_sops_encrypts_but_cannot_decrypt_a_top_level_merge_string(session_sops: Sops) -> None:
    data = b'"<<": text\n'
    encrypted = sops_encrypt(session_sops, data)
    assert encrypted.returncode == 0
    assert b"!!merge <<: ENC[" in encrypted.stdout
    assert sops_decrypt(session_sops, encrypted.stdout).returncode == 1
    store.load_plain(data)
    with pytest.raises(SecretsctlError):
        store.load_encrypted(encrypted.stdout)


# --- indentation from .sops.yaml ------------------------------------------------------------


@pytest.mark.parametrize("indent", [1, 2, 3, 10])
def test_indent_setting(session_sops: Sops, tmp_path: Path, indent: int) -> None:
    text = "a:\n  b:\n  - c\n  - d: 1\n    e: [x]\n# end\n"
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - age: {session_sops.key.recipient}\n"
        f"stores:\n  yaml:\n    indent: {indent}\n"
    )
    (tmp_path / "x.yaml").write_text(text)
    encrypted = session_sops.run("encrypt", "x.yaml", cwd=tmp_path)
    assert encrypted.returncode == 0
    (tmp_path / "x.enc.yaml").write_bytes(encrypted.stdout)
    decrypted = session_sops.run("decrypt", "x.enc.yaml", cwd=tmp_path)
    assert decrypted.returncode == 0
    assert store.emit_plain(store.load_plain(text.encode()), indent=indent) == decrypted.stdout
    documents, metadata = store.load_encrypted(encrypted.stdout)
    assert store.emit_encrypted(documents, metadata, indent=indent) == encrypted.stdout
    # --extract of a list ignores the setting: sops marshals it with yaml.v3's defaults.
    extracted = session_sops.run("decrypt", "--extract", '["a"]["b"]', "x.enc.yaml", cwd=tmp_path)
    value = store.load_plain(text.encode())[0].get("a").get("b")
    assert store.emit_value(value, indent=indent) == extracted.stdout


def test_nan_survives(session_sops: Sops) -> None:
    data = b"a: .nan\nb: [.inf, -.inf]\n"
    decrypted = sops_decrypt(session_sops, sops_encrypt(session_sops, data).stdout)
    document = store.load_plain(decrypted.stdout)[0]
    assert math.isnan(document.get("a"))
    assert document.get("b") == Seq([math.inf, -math.inf])
