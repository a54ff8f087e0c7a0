"""Store implementations behind one protocol: in-memory (default) and Redis (shared)."""

from .base import Store
from .memory import MemoryStore

__all__ = ["MemoryStore", "Store"]
