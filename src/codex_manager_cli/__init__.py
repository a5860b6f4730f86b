"""The `codex-manager` / `cmgr` command line: drives an embedded manager or a remote server."""
