"""Encrypting and decrypting pairwise messages on a :class:`SessionRecord`.

Pure functions: a record and bytes in, bytes out, the record updated in place only when
the whole operation succeeded. Any error (bad version, truncated bytes, a MAC that does
not verify, a replay, an unknown pre-key) leaves the record exactly as it was.

Typical use by a repository, inside one key-store transaction per message::

    record = load(address)                      # SessionRecord or a fresh one
    out = encrypt(record, identity, registration_id, padded_plaintext)
    store(address, record)                      # out.type is "pkmsg" or "msg"

    pk = PreKeyMessage.parse(body)              # for an incoming "pkmsg"
    result = decrypt_pre_key_message(record, identity, pk,
                                     signed_pre_key=..., one_time_pre_key=..., now_ms=...)
    store(address, record); delete pre-key result.used_pre_key_id if it is not None
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wamd.crypto import KeyPair
from wamd.errors import (
    DuplicateMessageError,
    InvalidKeyError,
    InvalidMessageError,
    NoSessionError,
    UnknownPreKeyError,
    UntrustedIdentityError,
)
from wamd.signal.ratchet import KeyGen, decrypt_with_state, encrypt_with_state
from wamd.signal.session_builder import init_incoming_state
from wamd.signal.session_record import BASE_KEY_THEIRS, SessionRecord, SessionState
from wamd.signal.wire import (
    ParsedSignalMessage,
    PreKeyMessage,
    encode_pre_key_message,
    parse_signal_message,
)

__all__ = [
    "CiphertextMessage",
    "PreKeyDecryptResult",
    "decrypt_message",
    "decrypt_pre_key_message",
    "encrypt",
]


@dataclass(frozen=True, slots=True)
class CiphertextMessage:
    """An encrypted message: ``"pkmsg"`` while the peer has not answered, then ``"msg"``."""

    type: Literal["pkmsg", "msg"]
    body: bytes


@dataclass(frozen=True, slots=True)
class PreKeyDecryptResult:
    """What decrypting a ``pkmsg`` gave.

    ``used_pre_key_id`` is the one-time pre-key this message consumed (the caller deletes
    it) or None; ``identity_key`` is the sender's 33-byte identity key; ``identity_changed``
    is true when the record held sessions made with another identity key (they are
    dropped: trust on first use, as WhatsApp and Baileys do); ``new_session`` is true
    when this message set up a session (false for a repeat ``pkmsg`` of a known one).
    """

    plaintext: bytes
    used_pre_key_id: int | None
    identity_key: bytes
    identity_changed: bool
    new_session: bool


def encrypt(
    record: SessionRecord, our_identity: KeyPair, our_registration_id: int, plaintext: bytes
) -> CiphertextMessage:
    """Encrypt ``plaintext`` with the record's open session (NoSessionError if none)."""
    state = record.open_session()
    if state is None:
        raise NoSessionError("no open session to encrypt with")
    identity33 = our_identity.prefixed_public
    msg = encrypt_with_state(state, identity33, plaintext)
    pending = state.pending_pre_key
    if pending is None:
        return CiphertextMessage("msg", msg)
    body = encode_pre_key_message(
        msg,
        # libsignal-node leaves a pre-key id of 0 out, as it tests the id for truth.
        pre_key_id=pending.pre_key_id or None,
        signed_pre_key_id=pending.signed_key_id,
        base_key=pending.base_key,
        identity_key=identity33,
        registration_id=our_registration_id,
    )
    return CiphertextMessage("pkmsg", body)


def decrypt_message(
    record: SessionRecord,
    our_identity: KeyPair,
    data: bytes,
    *,
    now_ms: int,
    keygen: KeyGen | None = None,
) -> bytes:
    """Decrypt a ``msg``, trying the open session first, then archived ones by last use.

    Raises NoSessionError if the record has no session, DuplicateMessageError for a
    replay, InvalidMessageError for anything else that does not decrypt.
    """
    if not record.sessions:
        raise NoSessionError("no session to decrypt with")
    msg = parse_signal_message(data)
    identity33 = our_identity.prefixed_public
    duplicate: DuplicateMessageError | None = None
    last: InvalidMessageError | None = None
    for state in record.states_for_decrypt():
        try:
            plaintext, work = decrypt_with_state(state, msg, identity33, keygen)
        except DuplicateMessageError as exc:
            duplicate = exc
            continue
        except (InvalidMessageError, InvalidKeyError) as exc:
            last = InvalidMessageError(str(exc))
            continue
        work.used = now_ms
        record.sessions[work.base_key] = work
        return plaintext
    if duplicate is not None:
        raise duplicate
    n = len(record.sessions)
    raise InvalidMessageError(f"no session of {n} could decrypt the message (last error: {last})")


def decrypt_pre_key_message(
    record: SessionRecord,
    our_identity: KeyPair,
    message: PreKeyMessage,
    *,
    signed_pre_key: KeyPair | None,
    one_time_pre_key: KeyPair | None,
    now_ms: int,
    trust_new_identity: bool = True,
    keygen: KeyGen | None = None,
) -> PreKeyDecryptResult:
    """Decrypt a parsed ``pkmsg``, creating the session it sets up if it is new.

    ``signed_pre_key`` and ``one_time_pre_key`` are our key pairs for
    ``message.signed_pre_key_id`` and ``message.pre_key_id`` (None if we do not have
    them). They are only needed when the record has no session with the message's base
    key yet; a missing one then raises UnknownPreKeyError. A new session archives the
    open one. With ``trust_new_identity`` false a changed identity key raises
    UntrustedIdentityError instead of replacing the old sessions.
    """
    identity33 = our_identity.prefixed_public
    changed = any(s.remote_identity_key != message.identity_key for s in record.sessions.values())
    if changed and not trust_new_identity:
        raise UntrustedIdentityError("the sender's identity key changed")
    inner = parse_signal_message(message.message)
    existing = None if changed else record.sessions.get(message.base_key)
    if existing is not None:
        if existing.base_key_type != BASE_KEY_THEIRS:
            raise InvalidMessageError("pre-key message carries a base key of our own session")
        plaintext, work = _decrypt_one(existing, inner, identity33, keygen)
        work.used = now_ms
        record.sessions[work.base_key] = work
        return PreKeyDecryptResult(plaintext, None, message.identity_key, False, False)
    if signed_pre_key is None:
        raise UnknownPreKeyError(f"unknown signed pre-key {message.signed_pre_key_id}")
    if message.pre_key_id is not None and one_time_pre_key is None:
        raise UnknownPreKeyError(f"unknown (or already used) pre-key {message.pre_key_id}")
    try:
        state = init_incoming_state(
            our_identity,
            message,
            signed_pre_key,
            one_time_pre_key if message.pre_key_id is not None else None,
            now_ms=now_ms,
        )
    except InvalidKeyError as exc:  # e.g. a low-order base or identity key
        raise InvalidMessageError(f"pre-key signal message: {exc}") from None
    plaintext, state = _decrypt_one(state, inner, identity33, keygen)
    if changed:
        record.sessions.clear()
    else:
        record.close_open_session(now_ms)
    record.put(state)
    record.prune()
    return PreKeyDecryptResult(plaintext, message.pre_key_id, message.identity_key, changed, True)


def _decrypt_one(
    state: SessionState, inner: ParsedSignalMessage, identity33: bytes, keygen: KeyGen | None
) -> tuple[bytes, SessionState]:
    try:
        return decrypt_with_state(state, inner, identity33, keygen)
    except InvalidKeyError as exc:
        raise InvalidMessageError(str(exc)) from None
