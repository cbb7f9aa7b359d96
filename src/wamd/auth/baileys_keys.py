"""Key values between wamd's native bytes and Baileys' multi-file JSON, and Baileys' file names.

Each key category has a native value form (see :class:`wamd.signal.store.KeyCategory`)
and a form Baileys keeps in ``<category>-<id>.json`` (protocol.md §7.2):

================== ================================ =========================================
category           native value                     Baileys file (after BufferJSON)
================== ================================ =========================================
pre-key            private (32) || public (32)      ``{"private":Buf,"public":Buf}``
session            ``SessionRecord.serialize()``    libsignal-node's record JSON
sender-key         ``SenderKeyRecord.serialize()``  Buf holding the UTF-8 record JSON
sender-key-memory  UTF-8 JSON as Baileys writes it  the same JSON
app-state-sync-key ``AppStateSyncKeyData`` protobuf protobuf-JSON (keyData b64, timestamp str)
app-state-sync-ver UTF-8 BufferJSON of LTHashState  the same JSON
lid-mapping        UTF-8 of the mapped user         a JSON string
device-list        UTF-8 JSON array of strings      the same JSON
tctoken            UTF-8 BufferJSON of the token    the same JSON
identity-key       33 bytes (0x05 || key)           Buf
================== ================================ =========================================

For the three JSON categories the native bytes are exactly what Baileys writes (compact
``JSON.stringify`` with BufferJSON), so code that reads them uses
:func:`wamd.auth.baileys_json.loads`.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from wamd._proto.message_pb2 import Message
from wamd.auth import baileys_json
from wamd.errors import CorruptStoreError, InvalidRecordError
from wamd.signal.sender_key_record import SenderKeyRecord
from wamd.signal.session_record import SessionRecord
from wamd.signal.store import KeyCategory

__all__ = [
    "CATEGORIES",
    "file_name",
    "id_from_file_name",
    "is_deletion",
    "value_from_baileys",
    "value_to_baileys",
]

CATEGORIES: tuple[str, ...] = tuple(c.value for c in KeyCategory)
# Longest first, so "sender-key-memory-x" is never taken for a sender-key named "memory-x".
_BY_LENGTH = tuple(sorted(CATEGORIES, key=len, reverse=True))
_DEVICE_IN_JID = re.compile(r"^([^@-]+)-(\d{1,3})@")


def file_name(category: str, key_id: str) -> str:
    """Baileys' file name for a key: ``<category>-<id>.json``, ``/`` → ``__``, ``:`` → ``-``."""
    return sanitize(f"{category}-{key_id}.json")


def sanitize(name: str) -> str:
    """Baileys' ``fixFileName``."""
    return name.replace("/", "__").replace(":", "-")


def id_from_file_name(name: str) -> tuple[str, str] | None:
    """``(category, id)`` for a Baileys key file name, or None if it is not one.

    Baileys' sanitising is not reversible in general, so ids are recovered per category
    from what their ids look like (e.g. a sender-key name has ``::`` twice); a name whose
    recovered id does not sanitise back to the same file name is not claimed.
    """
    if not name.endswith(".json"):
        return None
    stem = name[: -len(".json")]
    for category in _BY_LENGTH:
        prefix = category + "-"
        if stem.startswith(prefix) and len(stem) > len(prefix):
            key_id = _unsanitize(category, stem[len(prefix) :])
            if key_id is None or file_name(category, key_id) != name:
                return None
            return category, key_id
    return None


def _unsanitize(category: str, text: str) -> str | None:
    if category == KeyCategory.SENDER_KEY:
        parts = text.rsplit("--", 2)
        return "::".join(parts) if len(parts) == 3 else None
    if category == KeyCategory.APP_STATE_SYNC_KEY:
        return text.replace("__", "/")
    if category == KeyCategory.TC_TOKEN:
        # JIDs: "user-12@server" was "user:12@server" (a device); group ids keep their "-".
        return _DEVICE_IN_JID.sub(r"\1:\2@", text)
    return text


def is_deletion(value: Any) -> bool:
    """Whether Baileys' ``keys.set`` would delete rather than write this JSON value (falsy)."""
    return value is None or value is False or (not isinstance(value, bool) and value in ("", 0))


def _need_bytes(value: Any, where: str, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise CorruptStoreError(f"{where}: {what} must be a Buffer, not {type(value).__name__}")
    if length is not None and len(value) != length:
        raise CorruptStoreError(f"{where}: {what} must be {length} bytes, got {len(value)}")
    return value


def value_from_baileys(category: str, obj: Any, where: str) -> bytes:
    """Native value bytes from the revived JSON of a Baileys key file named ``where``."""
    try:
        return _from_baileys(category, obj, where)
    except InvalidRecordError as exc:
        raise CorruptStoreError(f"{where}: {exc}") from None


def _from_baileys(category: str, obj: Any, where: str) -> bytes:
    if category == KeyCategory.PRE_KEY:
        if not isinstance(obj, dict):
            raise CorruptStoreError(f"{where}: a pre-key must be a JSON object")
        private = _need_bytes(obj.get("private"), where, "private", 32)
        public = _need_bytes(obj.get("public"), where, "public", 32)
        return private + public
    if category == KeyCategory.IDENTITY_KEY:
        return _need_bytes(obj, where, "the identity key", 33)
    if category == KeyCategory.SESSION:
        if not isinstance(obj, dict):
            raise CorruptStoreError(f"{where}: a session record must be a JSON object")
        return SessionRecord.from_libsignal_json(obj).serialize()
    if category == KeyCategory.SENDER_KEY:
        blob = _need_bytes(obj, where, "the sender-key record")
        return SenderKeyRecord.from_baileys_bytes(blob).serialize()
    if category == KeyCategory.APP_STATE_SYNC_KEY:
        return _app_state_key_bytes(obj, where)
    if category == KeyCategory.LID_MAPPING:
        if not isinstance(obj, str):
            raise CorruptStoreError(f"{where}: a lid-mapping must be a JSON string")
        return obj.encode("utf-8", "surrogatepass")
    if category in _JSON_CATEGORIES:
        _check_json_value(category, obj, where)
        return baileys_json.dumps(obj)
    raise CorruptStoreError(f"{where}: unknown key category {category!r}")


_JSON_CATEGORIES = frozenset(
    {
        KeyCategory.DEVICE_LIST,
        KeyCategory.SENDER_KEY_MEMORY,
        KeyCategory.APP_STATE_SYNC_VERSION,
        KeyCategory.TC_TOKEN,
    }
)
"""Categories whose native value is the Baileys JSON itself (checked both ways)."""


def _check_json_value(category: str, obj: Any, where: str) -> None:
    if category == KeyCategory.DEVICE_LIST:
        if not isinstance(obj, list) or not all(isinstance(d, str) for d in obj):
            raise CorruptStoreError(f"{where}: a device-list must be a JSON array of strings")
    elif category == KeyCategory.APP_STATE_SYNC_VERSION:
        if not isinstance(obj, dict) or not isinstance(obj.get("hash"), bytes):
            raise CorruptStoreError(f"{where}: an app-state-sync-version needs a Buffer hash")
    elif not isinstance(obj, dict):
        raise CorruptStoreError(f"{where}: a {category} must be a JSON object")


def value_to_baileys(category: str, value: bytes, where: str) -> Any:
    """The JSON value Baileys keeps for native ``value`` (``where`` names it in errors)."""
    try:
        return _to_baileys(category, bytes(value), where)
    except InvalidRecordError as exc:
        raise CorruptStoreError(f"{where}: {exc}") from None


def _to_baileys(category: str, value: bytes, where: str) -> Any:
    if category == KeyCategory.PRE_KEY:
        if len(value) != 64:
            raise CorruptStoreError(f"{where}: a pre-key value must be 64 bytes, got {len(value)}")
        return {"private": value[:32], "public": value[32:]}
    if category == KeyCategory.IDENTITY_KEY:
        if len(value) != 33:
            raise CorruptStoreError(f"{where}: an identity key must be 33 bytes, got {len(value)}")
        return value
    if category == KeyCategory.SESSION:
        return SessionRecord.deserialize(value).to_libsignal_json()
    if category == KeyCategory.SENDER_KEY:
        return SenderKeyRecord.deserialize(value).to_baileys_bytes()
    if category == KeyCategory.APP_STATE_SYNC_KEY:
        msg = Message.AppStateSyncKeyData()
        try:
            msg.ParseFromString(value)
        except DecodeError:
            raise CorruptStoreError(f"{where}: not an AppStateSyncKeyData protobuf") from None
        return json_format.MessageToDict(msg)
    if category == KeyCategory.LID_MAPPING:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptStoreError(f"{where}: a lid-mapping must be UTF-8") from None
    if category in _JSON_CATEGORIES:
        obj = baileys_json.loads(value, where)
        _check_json_value(category, obj, where)
        return obj
    raise CorruptStoreError(f"{where}: unknown key category {category!r}")


def _app_state_key_bytes(obj: Any, where: str) -> bytes:
    if not isinstance(obj, dict):
        raise CorruptStoreError(f"{where}: an app-state-sync-key must be a JSON object")
    # protobufjs' fromObject takes bytes as base64 strings or as Buffers.
    plain = dict(obj)
    if isinstance(plain.get("keyData"), bytes):
        plain["keyData"] = baileys_json.b64encode(plain["keyData"])
    msg = Message.AppStateSyncKeyData()
    try:
        json_format.ParseDict(plain, msg, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise CorruptStoreError(f"{where}: bad app-state-sync-key ({exc})") from None
    return msg.SerializeToString()
