"""sops's key service (``sops keyservice``), server side: the vendored protocol and its code.

Only ``secretsctl keyservice`` imports this package, and it needs the ``keyservice`` extra
(grpcio, protobuf); no other command's path imports it.
"""
