"""libsignal-node's JSON form of a session state (protocol.md §6.5), both ways.

The dicts have libsignal-node's key order, so ``json.dumps(..., separators=(",", ":"))``
writes what ``JSON.stringify`` would.
"""

from __future__ import annotations

import base64
from typing import Any

from wamd.signal.session_state import Chain, PendingPreKey, SessionState

__all__ = ["b64", "state_from_json", "state_to_json", "unb64"]


def b64(data: bytes) -> str:
    """Standard base64 with padding, as Buffer.toString("base64") writes it."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any) -> bytes:
    """Bytes of a base64 string (TypeError if it is not a string)."""
    if not isinstance(text, str):
        raise TypeError(f"expected a base64 string, got {type(text).__name__}")
    return base64.b64decode(text)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return value


def state_to_json(state: SessionState) -> dict[str, Any]:
    """libsignal-node's SessionEntry.serialize() of ``state``."""
    chains: dict[str, Any] = {}
    for ratchet_key, chain in state.chains.items():
        chain_key: dict[str, Any] = {"counter": chain.counter}
        if chain.key is not None:
            chain_key["key"] = b64(chain.key)
        chains[b64(ratchet_key)] = {
            "chainKey": chain_key,
            "chainType": chain.chain_type,
            # JavaScript orders integer-like keys numerically, whatever the insertion order.
            "messageKeys": {str(i): b64(chain.message_keys[i]) for i in sorted(chain.message_keys)},
        }
    data: dict[str, Any] = {
        "registrationId": state.registration_id,
        "currentRatchet": {
            "ephemeralKeyPair": {
                "pubKey": b64(state.ephemeral_public),
                "privKey": b64(state.ephemeral_private),
            },
            "lastRemoteEphemeralKey": b64(state.last_remote_ephemeral),
            "previousCounter": state.previous_counter,
            "rootKey": b64(state.root_key),
        },
        "indexInfo": {
            "baseKey": b64(state.base_key),
            "baseKeyType": state.base_key_type,
            "closed": state.closed,
            "used": state.used,
            "created": state.created,
            "remoteIdentityKey": b64(state.remote_identity_key),
        },
        "_chains": chains,
    }
    pending = state.pending_pre_key
    if pending is not None:
        p: dict[str, Any] = {
            "signedKeyId": pending.signed_key_id,
            "baseKey": b64(pending.base_key),
        }
        if pending.pre_key_id is not None:
            p["preKeyId"] = pending.pre_key_id
        data["pendingPreKey"] = p
    return data


_U32 = (0, 2**32 - 1)
_I64 = (-(2**63), 2**63 - 1)
_PUBLIC = (32, 33)
_SECRET = (32,)


def _num(value: Any, name: str, bounds: tuple[int, int]) -> int:
    n = _int(value, name)
    if not bounds[0] <= n <= bounds[1]:
        raise ValueError(f"{name} {n} is out of range")
    return n


def _key(value: Any, name: str, sizes: tuple[int, ...]) -> bytes:
    data = unb64(value)
    if len(data) not in sizes:
        raise ValueError(f"{name} is {len(data)} bytes, expected {' or '.join(map(str, sizes))}")
    return data


def state_from_json(entry: Any, legacy_registration_id: Any) -> SessionState:
    """A state from libsignal-node's SessionEntry JSON.

    Keys must have their proper lengths and numbers their proper ranges, so whatever
    loads also fits the native form. Malformed input raises KeyError, TypeError,
    ValueError or AttributeError.
    """
    ratchet = entry["currentRatchet"]
    pair = ratchet["ephemeralKeyPair"]
    index = entry["indexInfo"]
    registration_id = entry.get("registrationId", legacy_registration_id)
    chains: dict[bytes, Chain] = {}
    for ratchet_key, c in entry["_chains"].items():
        chain_key = c["chainKey"]
        key = chain_key.get("key")
        chains[_key(ratchet_key, "chain name", _PUBLIC)] = Chain(
            _num(c["chainType"], "chainType", _U32),
            _num(chain_key["counter"], "chainKey.counter", _I64),
            None if key is None else _key(key, "chainKey.key", _SECRET),
            {
                _num(int(i), "message key index", _U32): _key(seed, "message key", _SECRET)
                for i, seed in c["messageKeys"].items()
            },
        )
    pending = None
    p = entry.get("pendingPreKey")
    if p is not None:
        pre_key_id = p.get("preKeyId")
        pending = PendingPreKey(
            _num(p["signedKeyId"], "pendingPreKey.signedKeyId", _U32),
            _key(p["baseKey"], "pendingPreKey.baseKey", _PUBLIC),
            None if pre_key_id is None else _num(pre_key_id, "pendingPreKey.preKeyId", _U32),
        )
    return SessionState(
        registration_id=_num(registration_id, "registrationId", _U32),
        ephemeral_public=_key(pair["pubKey"], "ephemeralKeyPair.pubKey", _PUBLIC),
        ephemeral_private=_key(pair["privKey"], "ephemeralKeyPair.privKey", _SECRET),
        last_remote_ephemeral=_key(
            ratchet["lastRemoteEphemeralKey"], "lastRemoteEphemeralKey", _PUBLIC
        ),
        previous_counter=_num(ratchet["previousCounter"], "previousCounter", _I64),
        root_key=_key(ratchet["rootKey"], "rootKey", _SECRET),
        base_key=_key(index["baseKey"], "baseKey", _PUBLIC),
        base_key_type=_num(index["baseKeyType"], "baseKeyType", _U32),
        closed=_num(index["closed"], "closed", _I64),
        used=_num(index["used"], "used", _I64),
        created=_num(index["created"], "created", _I64),
        remote_identity_key=_key(index["remoteIdentityKey"], "remoteIdentityKey", _PUBLIC),
        chains=chains,
        pending_pre_key=pending,
    )
