"""What to install: secretsctl's own YAML configuration and sops-nix's manifest.json, one model."""
