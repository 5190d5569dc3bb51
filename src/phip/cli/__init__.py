"""The `phip` command line."""
