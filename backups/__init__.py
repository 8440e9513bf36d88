"""Backups of stores (engine database, uploads, manifest) in S3-compatible storage, and restores into new stores."""
