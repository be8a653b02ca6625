"""The chat message: the one type both the data layer (rows) and the backends (requests)
speak, so neither needs the other."""

from __future__ import annotations

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}

__all__ = ["Message"]
