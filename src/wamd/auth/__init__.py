"""Auth state: creds, the transactional key store, and the storage backends.

Open an account's state with one of the ``use_*`` helpers (or :func:`memory_auth_state`);
each returns an :class:`AuthHandle` whose ``state`` a connection runs on and whose
``save_creds`` persists the creds.
"""

from wamd.auth.backend import StorageBackend
from wamd.auth.backends.baileys import use_multi_file_auth_state
from wamd.auth.backends.memory import memory_auth_state
from wamd.auth.backends.native import use_native_file_auth_state
from wamd.auth.backends.postgres import use_postgres_auth_state
from wamd.auth.backends.redis import use_redis_auth_state
from wamd.auth.creds import AuthCreds, init_auth_creds
from wamd.auth.keystore import KeyStore
from wamd.auth.state import AuthHandle, AuthState, open_auth_state
from wamd.signal.store import KeyCategory

__all__ = [
    "AuthCreds",
    "AuthHandle",
    "AuthState",
    "KeyCategory",
    "KeyStore",
    "StorageBackend",
    "init_auth_creds",
    "memory_auth_state",
    "open_auth_state",
    "use_multi_file_auth_state",
    "use_native_file_auth_state",
    "use_postgres_auth_state",
    "use_redis_auth_state",
]
