"""Numbered schema migrations of SqliteStore, shipped as package data.

`NNNN_<name>.sql` moves the schema from version NNNN-1 to NNNN. Each file runs in its own
`BEGIN IMMEDIATE` transaction together with the update of `schema_version`, so a crash
mid-migration leaves the previous version intact. Never edit a released migration: add the
next number.
"""
