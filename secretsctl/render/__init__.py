"""From a manifest and decrypted sops files to the bytes of every file to install."""
