"""Callers, access control and audit: principals and their read scope, tokens, password hashes,
the hash-chained audit log."""
