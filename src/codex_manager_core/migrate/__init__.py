"""Importers of other tools' state into our store (`original`: the original Codex Manager)."""
