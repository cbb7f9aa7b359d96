"""Storage backends for auth state: memory (NoAuth) and native SQLite (LocalAuth)."""

from wamd.auth.backends.memory import MemoryBackend, memory_auth_state

__all__ = ["MemoryBackend", "memory_auth_state"]
