"""The errors the Store port speaks besides `StoreUnavailable` (storage that cannot take
writes now): a failed compare-and-set, and a file that is not a usable store. Defined with
the rest of the hierarchy in `codex_manager_core.errors`."""

from codex_manager_core.errors import StoreConflict, StoreCorrupt

__all__ = ["StoreConflict", "StoreCorrupt"]
