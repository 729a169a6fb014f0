"""age keys: identity sources, ssh-to-age conversion, Shamir shares and the data-key keyring."""
