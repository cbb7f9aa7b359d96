"""Session setup (X3DH as libsignal v3 does it): from a peer's bundle, or from its pkmsg.

Shared secret (protocol.md §6.4), with ``A`` the initiator and ``B`` the responder::

    0xFF×32 || DH(B.signed_pre_key, A.identity) || DH(B.identity, A.base)
            || DH(B.signed_pre_key, A.base) [|| DH(B.one_time_pre_key, A.base)]

root key = HKDF(secret, salt 32×0, info "WhisperText")[0:32]. The initiator then makes
its first ratchet key and sending chain; the responder makes its own on the first message.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from wamd.crypto import KeyPair, prefixed
from wamd.errors import UntrustedIdentityError
from wamd.signal.keys import PreKeyBundle
from wamd.signal.ratchet import (
    KeyGen,
    add_sending_chain,
    agree,
    load_private_key,
    new_ephemeral,
    remember_private_key,
)
from wamd.signal.session_record import (
    BASE_KEY_OURS,
    BASE_KEY_THEIRS,
    PendingPreKey,
    SessionRecord,
    SessionState,
)
from wamd.signal.wire import PreKeyMessage

__all__ = ["init_incoming_state", "init_outgoing", "master_secret_root"]

_TEXT_INFO = b"WhisperText"


def master_secret_root(parts: list[bytes]) -> bytes:
    """The root key from the X3DH agreements (in the order of the module docstring)."""
    secret = b"\xff" * 32 + b"".join(parts)
    prk = hmac.digest(bytes(32), secret, "sha256")
    return hmac.digest(prk, _TEXT_INFO + b"\x01", "sha256")


def _check_identity(record: SessionRecord, identity33: bytes, trust_new_identity: bool) -> None:
    if trust_new_identity:
        return
    for state in record.sessions.values():
        if state.remote_identity_key != identity33:
            raise UntrustedIdentityError(
                "the peer's identity key differs from the one its sessions were made with"
            )


def init_outgoing(
    record: SessionRecord,
    our_identity: KeyPair,
    bundle: PreKeyBundle,
    *,
    now_ms: int,
    verify_signature: bool = True,
    trust_new_identity: bool = True,
    keygen: KeyGen | None = None,
) -> SessionState:
    """Start a session from ``bundle`` and make it the record's open session.

    The bundle's signed pre-key signature is checked first (InvalidSignatureError if it
    does not verify; libsignal-node skips this check, we do not). The previous open
    session, if any, is archived. If ``trust_new_identity`` is false and the record holds
    sessions with another identity key, UntrustedIdentityError is raised. A bundle key
    that is not a usable X25519 public key raises InvalidKeyError. ``keygen``
    supplies the base and ratchet key pairs (random if omitted). The record is only
    changed once everything succeeded.
    """
    if verify_signature:
        bundle.verify()
    _check_identity(record, bundle.identity_key, trust_new_identity)
    base = new_ephemeral(keygen)
    parts = [
        agree(load_private_key(our_identity.private), bundle.signed_pre_key_public),
        agree(base.key, bundle.identity_key),
        agree(base.key, bundle.signed_pre_key_public),
    ]
    if bundle.pre_key_public is not None:
        parts.append(agree(base.key, bundle.pre_key_public))
    ratchet = new_ephemeral(keygen)
    remember_private_key(ratchet)
    state = SessionState(
        registration_id=bundle.registration_id,
        ephemeral_public=ratchet.public33,
        ephemeral_private=ratchet.private,
        last_remote_ephemeral=bundle.signed_pre_key_public,
        previous_counter=0,
        root_key=master_secret_root(parts),
        base_key=base.public33,
        base_key_type=BASE_KEY_OURS,
        closed=-1,
        used=now_ms,
        created=now_ms,
        remote_identity_key=bundle.identity_key,
        pending_pre_key=PendingPreKey(bundle.signed_pre_key_id, base.public33, bundle.pre_key_id),
        ephemeral_key_cache=ratchet.key,
    )
    add_sending_chain(state, bundle.signed_pre_key_public)
    record.close_open_session(now_ms)
    record.put(state)
    record.prune()
    return state


def init_incoming_state(
    our_identity: KeyPair,
    message: PreKeyMessage,
    signed_pre_key: KeyPair,
    one_time_pre_key: KeyPair | None,
    *,
    now_ms: int,
) -> SessionState:
    """The responder's new session state for ``message`` (not yet in any record).

    Its first ratchet step happens when the message's inner ``msg`` is decrypted.
    """
    spk = load_private_key(signed_pre_key.private)
    parts = [
        agree(spk, message.identity_key),
        agree(load_private_key(our_identity.private), message.base_key),
        agree(spk, message.base_key),
    ]
    if one_time_pre_key is not None:
        # A one-time pre-key is used once: load it without keeping it in the cache.
        parts.append(
            agree(X25519PrivateKey.from_private_bytes(one_time_pre_key.private), message.base_key)
        )
    return SessionState(
        registration_id=message.registration_id,
        ephemeral_public=prefixed(signed_pre_key.public),
        ephemeral_private=signed_pre_key.private,
        last_remote_ephemeral=message.base_key,
        previous_counter=0,
        root_key=master_secret_root(parts),
        base_key=message.base_key,
        base_key_type=BASE_KEY_THEIRS,
        closed=-1,
        used=now_ms,
        created=now_ms,
        remote_identity_key=message.identity_key,
        ephemeral_key_cache=spk,
    )
