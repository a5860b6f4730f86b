"""Store domain "meta": small named string values the core keeps between runs (schema
caches, markers). Its mutation and its read."""

from __future__ import annotations

from typing import Protocol, TypeAlias

import attrs


@attrs.frozen
class SetMeta:
    key: str
    value: str


MetaMutation: TypeAlias = SetMeta


class MetaReads(Protocol):
    async def get_meta(self, key: str) -> str | None: ...


__all__ = ["MetaMutation", "MetaReads", "SetMeta"]
