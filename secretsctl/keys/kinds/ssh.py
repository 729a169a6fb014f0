"""age's SSH kinds: ``ssh-ed25519`` and ``ssh-rsa`` recipients and private keys (pyrage).

An identity here is a whole private key file, not a line of key text. As sops-nix does, an
ed25519 key gives two identities: the SSH one for ``ssh-ed25519`` recipients, and its
ssh-to-age conversion for ``age1…`` recipients.
"""

from __future__ import annotations

from typing import Final

from secretsctl.keys.kinds import KeySourceError, LoadedIdentity, Recipient, RecipientError
from secretsctl.keys.kinds import shorten as _shorten
from secretsctl.keys.kinds._pyrage import unwrap, wrap
from secretsctl.redact import Secret

__all__ = ["METADATA", "NAME", "parse_identity", "parse_recipient", "unwrap", "wrap"]

NAME: Final = "ssh"
METADATA: Final = "age"

_PEM_BEGIN: Final = b"-----BEGIN "
_NO_PROMPT: Final = "is not supported non-interactively; secretsctl never prompts"


def parse_recipient(text: str) -> Recipient:
    """Parse an ``ssh-ed25519 …`` or ``ssh-rsa …`` line, kept verbatim, comment included."""
    import pyrage

    kind = text.split(" ", 1)[0]
    try:
        return Recipient(kind, text, pyrage.ssh.Recipient.from_str(text))
    except pyrage.RecipientError:
        raise RecipientError(f"malformed {kind} recipient `{_shorten(text)}`") from None


def parse_identity(data: bytes, location: str) -> list[LoadedIdentity]:
    """Return the identities of one SSH private key file; raises :class:`KeySourceError`."""
    import pyrage

    from secretsctl.keys import ssh_to_age

    start = data.find(_PEM_BEGIN)
    pem = data[start:] if start >= 0 else data
    recipient: str | None = None
    if pem.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
        try:
            key = ssh_to_age.parse_openssh_private_key(pem)
        except ssh_to_age.SshKeyError as error:
            raise KeySourceError(error.message) from None
        if key.encrypted:
            raise KeySourceError(f"a passphrase-protected SSH key {_NO_PROMPT}")
        if key.key_type not in (ssh_to_age.ED25519, ssh_to_age.RSA):
            raise KeySourceError(
                f"unsupported SSH key type {key.key_type} (age uses ssh-ed25519 and ssh-rsa)"
            )
        kind = key.key_type
        recipient = key.public_line
    elif pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----"):
        if b"ENCRYPTED" in pem.split(b"\n\n", 1)[0]:
            raise KeySourceError(f"a passphrase-protected SSH key {_NO_PROMPT}")
        kind = ssh_to_age.RSA
    elif pem.startswith(_PEM_BEGIN):
        raise KeySourceError(
            "unsupported private key format (use the OpenSSH format: `ssh-keygen -p -f <key>`)"
        )
    else:
        raise KeySourceError("not an SSH private key")
    try:
        ssh_identity = pyrage.ssh.Identity.from_buffer(pem)
    except pyrage.IdentityError:
        raise KeySourceError(f"malformed {kind} private key") from None
    identities = [LoadedIdentity(kind, location, recipient, Secret(ssh_identity))]
    if kind == ssh_to_age.ED25519:
        secret, _ = ssh_to_age.ssh_private_key_to_age(pem)
        converted = pyrage.x25519.Identity.from_str(secret.reveal())
        # The recipient comes from pyrage, so it is the public key of the very scalar in use.
        identities.append(
            LoadedIdentity(
                "X25519", location, str(converted.to_public()), Secret(converted), converted=True
            )
        )
    return identities
