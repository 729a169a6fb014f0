"""Shared material for the JSON, binary, dotenv and INI store tests.

- ``CORPUS``: awkward but valid plaintext inputs per store; sops 3.11 encrypts every one.
- ``MALFORMED``: inputs sops refuses, with the exit status ``sops encrypt`` gives (2 = parse
  error, 203 = already encrypted), and our deliberate stricter cases.
- helpers to compare outputs without printing them, to normalise sops's randomly ordered
  ``[sops]`` INI section, and to compare tree shapes.

The golden outputs of the real sops binary for ``CORPUS`` live in ``tests/vectors/stores``
(written by ``tests/vectors/stores/make_vectors.py``).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

from secretsctl.sops.grammar import GoTime
from secretsctl.sops.tree import Branch, Comment, Seq

VECTORS = Path(__file__).resolve().parent / "vectors" / "stores"
FORMATS = ("json", "binary", "dotenv", "ini")
EXTENSIONS = {"json": "json", "binary": "bin", "dotenv": "env", "ini": "ini"}

CORPUS: dict[str, dict[str, bytes]] = {
    "json": {
        "numbers": (
            b'{"n": [1, -0, -0.0, 1e300, 1e-7, 1E5, 1.5e-10, 0.000001, 1e21, 1e20, 100, 0.1e1,'
            b" 12345678901234567890, 123456789012345678901234567890, 9007199254740993,"
            b" 5e-324, 1.7976931348623157e308, 1e-400, -1.5]}"
        ),
        "scalars": b'{"t": true, "f": false, "n": null, "e": "", "z": 0, "s": "plain"}',
        "nested": (
            b'{"l": [{"a": [{"b": [1, {"c": null}]}]}, [[[["deep"]]]]],'
            b' "objs": [{"k": "v"}, {"k": "w", "m": {"x": []}}], "empty": {}, "none": []}'
        ),
        "strings": (
            b'{"\\u00e9\\ud83d\\ude00k\\"\\\\": "\\ud83d\\ude00\\u0000\\u001f\\u007f\\u0080",'
            b' "esc": "\\b\\f\\n\\r\\t\\/\\"\\\\",'
            b' "uni": "\xc3\xa9 \xf0\x9f\x98\x80 \xe4\xb8\xad",'
            b' "html": "<script>&amp;</script>", "ls": "\xe2\x80\xa8\xe2\x80\xa9",'
            b' "fffd": "\\ufffd"}'
        ),
        "invalid_text": (
            b'{"lone": "\\udc80\\ud800\\ud800\\udc00x", "raw": "\xff\xfe\xc3", "rawk\xff": 1,'
            b' "surrogate_bytes": "\xed\xa0\x80"}'
        ),
        "duplicates": b'{"a": 1, "a": "two", "a": {"a": [], "a": null}, "b": [{"a": 1, "a": 2}]}',
        "whitespace": b'  \r\n\t{ "a" : [ ] , "b" : { } , "c" : [ [ ] , [ [ 1 ] ] , { } ] }\n\n',
        "empty_object": b"{}",
        "compact": b'{"k":"v","n":[1,2,3],"o":{"p":{"q":"r"}}}',
    },
    "dotenv": {
        "awkward": (
            b"A=1\n B = spaced \nQ=\"q v\"\nS='single'\nexport X=1\nE=\nW=a=b=c\n"
            b"N=line1\\nline2\n#comment\n# spaced comment\n\n"
            b"CR=val\r\nU=\xc3\xa9\xf0\x9f\x98\x80\n#\n"
        ),
        "escapes": b"K=\\\\n\\\\\\nx\nT=a\\tb\nB=back\\slash\n==\n=v\n",
        "crlf": b"A=1\r\nB=2\r\n#c\r\n",
        "invalid_utf8": b"A=\xff\xfe\x80\nK\xc3=v\n#\xed\xa0\x80\n",
        "no_final_newline": b"A=1\nB=2",
        "duplicates": b"A=1\nA=2\n  #not a comment=3\n",
        "only_comment": b"#only\n",
        "empty": b"",
        "blank_lines": b"\n\n\nA=1\n\n\n",
    },
    "ini": {
        "sections": (
            b'top = 1\n; c1\n# c2\n[sec] ; sc\nk1 = "quoted"   ; kc\nk2=a;b\nk3 : colon\n'
            b'"qk" = 2\n[empty]\n[sec]\nk1 = dup\n[DEFAULT]\nd = 1\n'
        ),
        "multiline": (
            b'[s]\nk = """multi\nline""" ; after\nb = `back;tick` ; c\nc = a \\\n  cont \\\n'
            b"  more\nd = x\ne = `a\nb`\n"
        ),
        "quotes": (
            b'[s]\nk = "a;b"\nk2 = \'single\'\nk3 = "a"b"\nk4 =   \nk5 = "  padded  "\n'
            b'k6 = a # hash\n`we=ird` = 1\n"q:k" = 2\nk7 = "unbalanced\nk8 = \'\'\n'
        ),
        "bom_crlf": b"\xef\xbb\xbf[s]\r\nk = v\r\n; c\r\n; d\r\nk2 = w\r\n",
        "empty_sections": b"[a]\n[b]\n[a]\nx=1\n[c]\n",
        "explicit_default": b"[DEFAULT]\nx=1\n[s]\ny=2\n",
        "lower_default": b"x=1\n[default]\ny=2\n",
        "unicode": (
            b"[\xc3\xbc]\ncl\xc3\xa9 = v\xc3\xa4lue \xf0\x9f\x98\x80\nk = \xc2\xa0nbsp\xc2\xa0\n"
            b"[ spaced ]\n a b = c d \n"
        ),
        "duplicate_keys": b"[s]\nk=1\nk=2 ; second\nj=3\n",
        "comments": (
            b"[s] trailing junk ; comment\n# c1\n# c2\nk = v\n;;;  many\nj = w ; inline\n"
            b"# trailing comment\n"
        ),
        "only_comment": b"; only comment\n",
        "empty": b"",
        "default_only": b"a = 1\nb = 2\n",
        "values": (
            b'[v]\nurl = http://example.org/?q=1\nempty =\nquoted_empty = ""\n'
            b"tab\t=\tvalue\t\nbackslash = a\\b\nenc = ENC[x]\n"
        ),
    },
    "binary": {
        "random": random.Random(20261125).randbytes(300),
        "invalid_utf8": b"\x00\x01\xff\xfe\xed\xa0\x80\xc0\x80 text <>&\xe2\x80\xa8\r\n",
        "empty": b"",
        "text": b"plain text\n",
        "json_like": b'{"data": 1, "sops": {}}',
        "nuls": b"\x00" * 64,
    },
}

# Decrypting one store's file into another store's output: name -> (input store, input,
# output store). These pin sops's ValToString and Go %v formatting for non-string values.
CONVERSIONS: dict[str, tuple[str, bytes, str]] = {
    "json_to_dotenv": (
        "json",
        b'{"a":1,"b":1.5,"c":1e21,"d":true,"e":null,"f":100000000,"g":1e-7,"h":-0,"i":123456,'
        b'"j":1234567,"k":0.0001,"l":0.00001,"m":"x\\ny"}',
        "dotenv",
    ),
    "json_to_ini": (
        "json",
        b'{"s":{"a":1,"b":1.5,"c":1e21,"d":true,"e":null,"f":100000000,"n":{"x":1,"y":"s"},'
        b'"l":[1,"a",true,null,1.5,[2]],"m":"x\\ny","q":" pad","r":"a;b","t":"a`b",'
        b'"u":"a\\"b","w":"#1"},"t":{}}',
        "ini",
    ),
    "dotenv_to_json": ("dotenv", b"A=1\\n2\n#c\nB=<&>\n", "json"),
    "ini_to_json": ("ini", b"top=1\n[s]\n; c\nk = v ; kc\n[t]\n", "json"),
    "ini_to_dotenv_fails": ("ini", b"[s]\nk = v\n", "dotenv"),
    "json_to_binary": ("binary", b"bytes\x00\xff", "json"),
}

# name -> (input, sops encrypt exit status). Our loaders raise a SecretsctlError for each.
MALFORMED: dict[str, dict[str, tuple[bytes, int]]] = {
    "json": {
        "truncated": (b'{"a": 1', 2),
        "truncated_nested": (b'{"a": {"b":', 2),
        "array": (b"[1, 2]", 2),
        "number": (b"1", 2),
        "string": (b'"s"', 2),
        "empty": (b"", 2),
        "whitespace_only": (b" \n", 2),
        "overflow": (b'{"a": 1e400}', 2),
        "nan": (b'{"a": NaN}', 2),
        "infinity": (b'{"a": -Infinity}', 2),
        "bom": (b'\xef\xbb\xbf{"a": 1}', 2),
        "control_char": (b'{"a": "\t"}', 2),
        "single_quotes": (b"{'a': 1}", 2),
        "trailing_comma": (b'{"a": 1,}', 2),
        "leading_zero": (b'{"a": 01}', 2),
        "bad_escape": (b'{"a": "\\x"}', 2),
        "sops_key": (b'{"sops": 1}', 203),
    },
    "dotenv": {
        "no_equals": (b"A=1\nnoeq\n", 2),
        "tab_line": (b"A=1\n\t\n", 2),
        "sops_key": (b"A=1\nsops_x=2\n", 203),
    },
    "ini": {
        "unclosed_section": (b"[s\nk=v\n", 2),
        "empty_section_name": (b"[]\n", 2),
        "no_delimiter": (b"[s]\nnovalue\n", 2),
        "empty_key": (b"[s]\n=v\n", 2),
        "empty_quoted_key": (b'[s]\n"" = v\n', 2),
        "unterminated_value": (b'[s]\nk = """unterminated\n', 2),
        "unterminated_key": (b'[s]\n"k = v\n', 2),
        "sops_section": (b"[sops]\nk = v\n", 203),
    },
}

# sops accepts these (silently dropping data); we refuse them on purpose.
STRICTER_THAN_SOPS: dict[str, dict[str, bytes]] = {
    "json": {
        "trailing_data": b'{"a": 1} xx',
        "two_objects": b'{"a": 1}{"b": 2}',
        "cut_after_colon": b'{"a": 1, "b":',
        "cut_after_key": b'{"a": 1, "b"',
    },
}


def first_difference(actual: bytes, expected: bytes) -> str | None:
    """Where two outputs first differ, as line and column only (never their content)."""
    if actual == expected:
        return None
    limit = min(len(actual), len(expected))
    index = next((i for i in range(limit) if actual[i] != expected[i]), limit)
    line = expected.count(b"\n", 0, index) + 1
    column = index - (expected.rfind(b"\n", 0, index) + 1) + 1
    return (
        f"outputs differ from line {line} column {column} (byte {index});"
        f" lengths {len(actual)} vs {len(expected)}"
    )


def sorted_sops_section(data: bytes) -> bytes:
    """An INI file with its final ``[sops]`` section's lines sorted (sops writes them randomly)."""
    head, marker, tail = data.partition(b"[sops]\n")
    if not marker:
        return data
    return head + marker + b"".join(sorted(tail.splitlines(keepends=True)))


def shape(value: Any, *, encrypted: bool = False) -> Any:
    """A tree with every leaf replaced by a marker: keys, order and comment positions only.

    ``encrypted``: the shape of an encrypted INI file, where sops drops an empty comment (from
    ``key=;``); dotenv keeps it.
    """
    if isinstance(value, Branch):
        return [
            ("#" if isinstance(k, Comment) else k, shape(v, encrypted=encrypted))
            for k, v in value
            if not (encrypted and isinstance(k, Comment) and k.text == "")
        ]
    if isinstance(value, list):
        return [shape(v, encrypted=encrypted) for v in value]
    if isinstance(value, Comment):
        return "#"
    return None if value is None else "leaf"


def canonical(value: Any) -> Any:
    """A tree as nested tuples that tells apart types and the sign of zero (``==`` does not)."""
    if isinstance(value, Branch):
        return ("map", tuple((canonical(k), canonical(v)) for k, v in value))
    if isinstance(value, Seq):
        return (type(value).__name__, tuple(canonical(v) for v in value))
    if isinstance(value, Comment):
        return ("comment", value.text)
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    if isinstance(value, GoTime):
        return ("time", value.text)
    return (type(value).__name__, value)
