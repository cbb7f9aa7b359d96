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


def state_from_json(entry: Any, legacy_registration_id: Any) -> SessionState:
    """A state from libsignal-node's SessionEntry JSON.

    Malformed input raises KeyError, TypeError or ValueError.
    """
    ratchet = entry["currentRatchet"]
    pair = ratchet["ephemeralKeyPair"]
    index = entry["indexInfo"]
    registration_id = entry.get("registrationId", legacy_registration_id)
    chains: dict[bytes, Chain] = {}
    for ratchet_key, c in entry["_chains"].items():
        chain_key = c["chainKey"]
        key = chain_key.get("key")
        chains[unb64(ratchet_key)] = Chain(
            _int(c["chainType"], "chainType"),
            _int(chain_key["counter"], "chainKey.counter"),
            None if key is None else unb64(key),
            {int(i): unb64(seed) for i, seed in c["messageKeys"].items()},
        )
    pending = None
    p = entry.get("pendingPreKey")
    if p is not None:
        pre_key_id = p.get("preKeyId")
        pending = PendingPreKey(
            _int(p["signedKeyId"], "pendingPreKey.signedKeyId"),
            unb64(p["baseKey"]),
            None if pre_key_id is None else _int(pre_key_id, "pendingPreKey.preKeyId"),
        )
    return SessionState(
        registration_id=_int(registration_id, "registrationId"),
        ephemeral_public=unb64(pair["pubKey"]),
        ephemeral_private=unb64(pair["privKey"]),
        last_remote_ephemeral=unb64(ratchet["lastRemoteEphemeralKey"]),
        previous_counter=_int(ratchet["previousCounter"], "previousCounter"),
        root_key=unb64(ratchet["rootKey"]),
        base_key=unb64(index["baseKey"]),
        base_key_type=_int(index["baseKeyType"], "baseKeyType"),
        closed=_int(index["closed"], "closed"),
        used=_int(index["used"], "used"),
        created=_int(index["created"], "created"),
        remote_identity_key=unb64(index["remoteIdentityKey"]),
        chains=chains,
        pending_pre_key=pending,
    )
