"""The sops file format: value grammar, tree walk, cipher, MAC, metadata and stores."""
