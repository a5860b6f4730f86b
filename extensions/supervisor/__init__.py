"""The supervisor extension (its entrypoint is `extension.py`, see `extension.toml`)."""
