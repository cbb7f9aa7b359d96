"""wamd: a pure-protocol asyncio client for WhatsApp's multi-device protocol."""

from wamd.auth import (
    AuthCreds,
    AuthHandle,
    AuthState,
    memory_auth_state,
    use_multi_file_auth_state,
    use_native_file_auth_state,
)
from wamd.client import DEFAULT_URL, Connection, ReconnectPolicy, connect
from wamd.client.group_cache import GroupMetadataCache, MemoryGroupMetadataCache
from wamd.errors import WamdError
from wamd.events import (
    Authenticated,
    AuthFailure,
    Connected,
    CredsUpdate,
    Disconnected,
    DisconnectReason,
    Event,
    GroupMetadata,
    GroupParticipant,
    GroupParticipantsUpdate,
    GroupUpdate,
    GroupUpsert,
    LoggedOut,
    Message,
    PairingCode,
    QRCode,
    Receipt,
    RemoteSessionSaved,
)
from wamd.pairing import Browser, print_qr

__all__ = [
    "DEFAULT_URL",
    "AuthCreds",
    "AuthFailure",
    "AuthHandle",
    "AuthState",
    "Authenticated",
    "Browser",
    "Connected",
    "Connection",
    "CredsUpdate",
    "DisconnectReason",
    "Disconnected",
    "Event",
    "GroupMetadata",
    "GroupMetadataCache",
    "GroupParticipant",
    "GroupParticipantsUpdate",
    "GroupUpdate",
    "GroupUpsert",
    "LoggedOut",
    "MemoryGroupMetadataCache",
    "Message",
    "PairingCode",
    "QRCode",
    "Receipt",
    "ReconnectPolicy",
    "RemoteSessionSaved",
    "WamdError",
    "__version__",
    "connect",
    "memory_auth_state",
    "print_qr",
    "use_multi_file_auth_state",
    "use_native_file_auth_state",
]

__version__ = "0.1.0.dev0"
"""The installed wamd version (a development release until 0.1.0)."""
