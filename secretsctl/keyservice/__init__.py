"""sops's key service (``sops keyservice``): the vendored protocol, its code, and the client.

The generated modules need the ``keyservice`` extra (grpcio, protobuf). Only
``secretsctl keyservice`` and a remote key service asked by :mod:`.client` import them; no
other command's path does.
"""
