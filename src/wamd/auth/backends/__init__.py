"""Storage backends for auth state: memory (NoAuth) and native SQLite (LocalAuth)."""

from wamd.auth.backends.memory import MemoryBackend, memory_auth_state
from wamd.auth.backends.native import NativeBackend, use_native_file_auth_state

__all__ = ["MemoryBackend", "NativeBackend", "memory_auth_state", "use_native_file_auth_state"]
