"""Sender-key records: the group (``skmsg``) state kept per sender and group.

A :class:`SenderKeyRecord` holds up to five :class:`SenderKeyState` values, oldest first,
as Baileys keeps them. A state is one sender's hash chain (key id, iteration, chain key),
its signing key (public always, private only for our own sender key) and the message keys
it skipped over (for messages that arrive out of order).

Two lossless serializations:

- :meth:`SenderKeyRecord.serialize` / :meth:`SenderKeyRecord.deserialize`: wamd's compact
  native bytes (the ``sender-key`` value in native stores);
- :meth:`SenderKeyRecord.to_baileys_json` / :meth:`SenderKeyRecord.from_baileys_json`: the
  JSON array Baileys stores (protocol.md §6.6), with binary fields as Node
  ``Buffer.toJSON()`` objects. ``json.dumps(record.to_baileys_json(), separators=(",", ":"))``
  is byte-for-byte what Baileys writes for the same record.

Converting either way and back gives the same record. Damaged input raises
:class:`~wamd.errors.InvalidRecordError` naming what was wrong.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterable
from typing import Any

from wamd.errors import InvalidRecordError

__all__ = [
    "MAX_MESSAGE_KEYS",
    "MAX_STATES",
    "SenderKeyRecord",
    "SenderKeyState",
]

MAX_STATES = 5
"""States a record keeps; adding a sixth drops the oldest (as libsignal does)."""

MAX_MESSAGE_KEYS = 2000
"""Skipped message keys a state keeps; the oldest are dropped beyond this."""

_SEED_LEN = 32
_MAX_U32 = 0xFFFFFFFF
_MAGIC = b"SK\x01"  # native format, version 1 (Baileys' JSON starts with "[")
_NO_PRIVATE = 0xFF  # length byte meaning "no private key field at all"
_HEAD = struct.Struct(">IIB")  # key id, iteration, chain key length
_COUNT = struct.Struct(">I")
_MESSAGE_KEY = struct.Struct(">I32s")


class SenderKeyState:
    """One sender chain: key id, chain iteration and key, signing key, skipped message keys.

    ``signing_private`` is ``None`` when the stored form has no private field, ``b""`` for
    a state learnt from a distribution message (Baileys stores an empty buffer there) and
    32 bytes for our own sender key. ``message_keys`` maps a skipped iteration to its
    32-byte message key seed, oldest first.
    """

    __slots__ = (
        "chain_key",
        "iteration",
        "key_id",
        "message_keys",
        "signing_private",
        "signing_public",
    )

    def __init__(
        self,
        key_id: int,
        iteration: int,
        chain_key: bytes,
        signing_public: bytes,
        *,
        signing_private: bytes | None = b"",
        message_keys: dict[int, bytes] | None = None,
    ) -> None:
        self.key_id = key_id
        self.iteration = iteration
        self.chain_key = chain_key
        self.signing_public = signing_public
        self.signing_private = signing_private
        self.message_keys: dict[int, bytes] = {} if message_keys is None else message_keys

    @property
    def has_private(self) -> bool:
        """True if this state can sign, i.e. it is our own sender key."""
        return self.signing_private is not None and len(self.signing_private) == 32

    def copy(self) -> SenderKeyState:
        """An independent copy (the skipped keys are copied too)."""
        return SenderKeyState(
            self.key_id,
            self.iteration,
            self.chain_key,
            self.signing_public,
            signing_private=self.signing_private,
            message_keys=dict(self.message_keys),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SenderKeyState):
            return NotImplemented
        return (
            self.key_id == other.key_id
            and self.iteration == other.iteration
            and self.chain_key == other.chain_key
            and self.signing_public == other.signing_public
            and self.signing_private == other.signing_private
            and list(self.message_keys.items()) == list(other.message_keys.items())
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"SenderKeyState(key_id={self.key_id}, iteration={self.iteration}, "
            f"signing_public={self.signing_public.hex()}, "
            f"private={'yes' if self.has_private else 'no'}, skipped={len(self.message_keys)})"
        )


class SenderKeyRecord:
    """All sender-key states kept for one sender in one group (see the module docstring)."""

    __slots__ = ("states",)

    def __init__(self, states: Iterable[SenderKeyState] = ()) -> None:
        self.states: list[SenderKeyState] = list(states)

    # --- queries --------------------------------------------------------------------------

    def is_empty(self) -> bool:
        """True if the record holds no state."""
        return not self.states

    def newest_state(self) -> SenderKeyState | None:
        """The most recently added state (the one our own sender key encrypts with)."""
        return self.states[-1] if self.states else None

    def state_for(self, key_id: int) -> SenderKeyState | None:
        """The state with ``key_id`` (the oldest, if a foreign record holds duplicates)."""
        for state in self.states:
            if state.key_id == key_id:
                return state
        return None

    # --- changes --------------------------------------------------------------------------

    def add_state(
        self, key_id: int, iteration: int, chain_key: bytes, signing_public: bytes
    ) -> bool:
        """Add a sender's state learnt from a distribution message; False if already known.

        A state with the same key id and signing key is kept as it is (it may already be
        further along the chain). One with the same key id but another signing key is
        replaced. Beyond :data:`MAX_STATES` the oldest state is dropped.
        """
        for state in self.states:
            if state.key_id == key_id and state.signing_public == signing_public:
                return False
        self.states = [s for s in self.states if s.key_id != key_id]
        self.states.append(SenderKeyState(key_id, iteration, chain_key, signing_public))
        del self.states[:-MAX_STATES]
        return True

    def set_own_state(
        self,
        key_id: int,
        iteration: int,
        chain_key: bytes,
        signing_public: bytes,
        signing_private: bytes,
    ) -> None:
        """Replace every state with our own fresh sender key."""
        self.states = [
            SenderKeyState(
                key_id, iteration, chain_key, signing_public, signing_private=signing_private
            )
        ]

    def copy(self) -> SenderKeyRecord:
        """An independent deep copy."""
        return SenderKeyRecord(s.copy() for s in self.states)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SenderKeyRecord):
            return NotImplemented
        return self.states == other.states

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"SenderKeyRecord({self.states!r})"

    # --- native form ----------------------------------------------------------------------

    def serialize(self) -> bytes:
        """The record in wamd's compact native form."""
        if len(self.states) > 255:
            raise InvalidRecordError(f"sender-key record has {len(self.states)} states (max 255)")
        out = [_MAGIC, bytes((len(self.states),))]
        for s in self.states:
            out.append(_HEAD.pack(s.key_id, s.iteration, len(s.chain_key)))
            out.append(s.chain_key)
            out.append(bytes((len(s.signing_public),)))
            out.append(s.signing_public)
            if s.signing_private is None:
                out.append(bytes((_NO_PRIVATE,)))
            else:
                out.append(bytes((len(s.signing_private),)))
                out.append(s.signing_private)
            out.append(_COUNT.pack(len(s.message_keys)))
            pack = _MESSAGE_KEY.pack
            out.extend(pack(it, seed) for it, seed in s.message_keys.items())
        return b"".join(out)

    @classmethod
    def deserialize(cls, data: bytes) -> SenderKeyRecord:
        """Parse the native form written by :meth:`serialize`."""
        data = bytes(data)
        if not data.startswith(_MAGIC):
            raise InvalidRecordError(
                "sender-key record: not wamd's native form (bad magic/version prefix)"
            )
        reader = _Reader(data, len(_MAGIC))
        states = []
        for index in range(reader.byte()):
            where = f"sender-key record state {index}"
            key_id, iteration, chain_len = reader.unpack(_HEAD, where)
            chain_key = reader.take(chain_len, where)
            signing_public = reader.take(reader.byte(), where)
            private_len = reader.byte()
            signing_private = (
                None if private_len == _NO_PRIVATE else reader.take(private_len, where)
            )
            (count,) = reader.unpack(_COUNT, where)
            block = reader.take(count * _MESSAGE_KEY.size, where)
            message_keys = dict(_MESSAGE_KEY.iter_unpack(block))
            if len(message_keys) != count:
                raise InvalidRecordError(f"{where}: a skipped iteration appears twice")
            states.append(
                SenderKeyState(
                    key_id,
                    iteration,
                    chain_key,
                    signing_public,
                    signing_private=signing_private,
                    message_keys=message_keys,
                )
            )
        if reader.pos != len(data):
            raise InvalidRecordError(
                f"sender-key record: {len(data) - reader.pos} unexpected bytes after the last state"
            )
        return cls(states)

    # --- Baileys' JSON form -----------------------------------------------------------------

    def to_baileys_json(self) -> list[dict[str, Any]]:
        """The record as Baileys' ``SenderKeyRecord.serialize()`` gives it (a JSON-able list)."""
        out: list[dict[str, Any]] = []
        for s in self.states:
            signing: dict[str, Any] = {"public": _buffer_json(s.signing_public)}
            if s.signing_private is not None:
                signing["private"] = _buffer_json(s.signing_private)
            out.append(
                {
                    "senderKeyId": s.key_id,
                    "senderChainKey": {"iteration": s.iteration, "seed": _buffer_json(s.chain_key)},
                    "senderSigningKey": signing,
                    "senderMessageKeys": [
                        {"iteration": it, "seed": _buffer_json(seed)}
                        for it, seed in s.message_keys.items()
                    ],
                }
            )
        return out

    @classmethod
    def from_baileys_json(cls, obj: list[Any]) -> SenderKeyRecord:
        """Build a record from Baileys' JSON array (binary fields as int arrays or base64)."""
        if not isinstance(obj, list):
            raise InvalidRecordError(
                f"sender-key record (Baileys JSON): expected an array, got {type(obj).__name__}"
            )
        states = []
        for index, item in enumerate(obj):
            where = f"sender-key record (Baileys JSON) state {index}"
            item_d = _field(item, None, dict, where)
            chain = _field(item_d, "senderChainKey", dict, where)
            signing = _field(item_d, "senderSigningKey", dict, where)
            private_raw = signing.get("private")
            message_keys: dict[int, bytes] = {}
            raw_keys = item_d.get("senderMessageKeys", [])
            if not isinstance(raw_keys, list):
                raise InvalidRecordError(f"{where}: senderMessageKeys is not an array")
            for k_index, raw in enumerate(raw_keys):
                k_where = f"{where} senderMessageKeys[{k_index}]"
                raw_d = _field(raw, None, dict, k_where)
                seed = _bytes(raw_d.get("seed"), f"{k_where}.seed")
                if len(seed) != _SEED_LEN:
                    raise InvalidRecordError(f"{k_where}.seed: {len(seed)} bytes, expected 32")
                iteration = _u32(raw_d.get("iteration"), f"{k_where}.iteration")
                # Baileys looks skipped keys up by the first match, so later twins are dead.
                message_keys.setdefault(iteration, seed)
            states.append(
                SenderKeyState(
                    key_id=_u32(item_d.get("senderKeyId", 0), f"{where}.senderKeyId"),
                    iteration=_u32(chain.get("iteration", 0), f"{where}.senderChainKey.iteration"),
                    chain_key=_bytes(chain.get("seed"), f"{where}.senderChainKey.seed"),
                    signing_public=_bytes(
                        signing.get("public"), f"{where}.senderSigningKey.public"
                    ),
                    signing_private=None
                    if "private" not in signing
                    else _bytes(private_raw, f"{where}.senderSigningKey.private"),
                    message_keys=message_keys,
                )
            )
        return cls(states)

    def to_baileys_bytes(self) -> bytes:
        """The UTF-8 JSON blob Baileys' ``storeSenderKey`` writes for this record."""
        return json.dumps(self.to_baileys_json(), separators=(",", ":")).encode()

    @classmethod
    def from_baileys_bytes(cls, data: bytes) -> SenderKeyRecord:
        """Parse the UTF-8 JSON blob Baileys stores as a ``sender-key`` value."""
        try:
            obj = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRecordError(
                f"sender-key record (Baileys JSON): not valid JSON ({exc})"
            ) from None
        return cls.from_baileys_json(obj)


# --- helpers ---------------------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise InvalidRecordError(f"sender-key record: truncated at byte {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, n: int, where: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise InvalidRecordError(f"{where}: truncated at byte {self.pos} (needs {n} more)")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, fmt: struct.Struct, where: str) -> tuple[int, ...]:
        chunk = self.take(fmt.size, where)
        return fmt.unpack(chunk)


def _buffer_json(data: bytes) -> dict[str, Any]:
    return {"type": "Buffer", "data": list(data)}


def _field(obj: Any, name: str | None, kind: type, where: str) -> Any:
    value = obj if name is None else obj.get(name)
    label = where if name is None else f"{where}.{name}"
    if not isinstance(value, kind):
        raise InvalidRecordError(
            f"{label}: expected {'an object' if kind is dict else kind.__name__}, "
            f"got {type(value).__name__}"
        )
    return value


def _u32(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_U32:
        raise InvalidRecordError(f"{where}: expected an integer in 0..2^32-1, got {value!r:.40}")
    return value


def _bytes(value: Any, where: str) -> bytes:
    """Bytes from a Buffer.toJSON() object, BufferJSON's base64 form, or a bare int array."""
    data: Any = value
    if isinstance(value, dict):
        if value.get("type") != "Buffer" and value.get("buffer") is not True:
            raise InvalidRecordError(f"{where}: object is not a serialized Buffer")
        data = value.get("data", value.get("value"))
    if isinstance(data, str):
        try:
            return base64.b64decode(data, validate=True)
        except ValueError:
            raise InvalidRecordError(f"{where}: not valid base64") from None
    if isinstance(data, list):
        if all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in data):
            return bytes(data)
        raise InvalidRecordError(f"{where}: byte array holds a value outside 0..255")
    raise InvalidRecordError(f"{where}: expected a Buffer, got {type(value).__name__}")
