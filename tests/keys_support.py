"""Helpers for the key tests: read the sops metadata of a YAML or JSON file, check a data key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from secretsctl.sops import metadata as md
from secretsctl.sops.tree import Branch, Seq


def to_tree(value: Any) -> Any:
    """Plain dicts and lists as the sops tree model (Branch, Seq)."""
    if isinstance(value, dict):
        return Branch((key, to_tree(child)) for key, child in value.items())
    if isinstance(value, list):
        return Seq(to_tree(child) for child in value)
    return value


def load_document(path: Path) -> dict[str, Any]:
    """A sops YAML or JSON file as plain Python data."""
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)  # type: ignore[no-any-return]
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)  # type: ignore[no-any-return]


def read_metadata(path: Path) -> md.Metadata:
    """The parsed ``sops`` block of a file written by sops."""
    return md.from_tree(to_tree(load_document(path)["sops"]))


def mac_opens(path: Path, data_key: bytes) -> bool:
    """Whether ``data_key`` decrypts the file's MAC (AES-256-GCM, AAD = lastmodified)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from secretsctl.sops.grammar import mac_aad, parse_enc

    sops = load_document(path)["sops"]
    data, iv, tag, _ = parse_enc(sops["mac"])
    try:
        AESGCM(data_key).decrypt(iv, data + tag, mac_aad(str(sops["lastmodified"])).encode())
    except InvalidTag:
        return False
    return True
