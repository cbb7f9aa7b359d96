"""Group encryption with sender keys (``skmsg``), sans-IO.

Each member of a group has its own sender key: a hash chain and a signing key pair.
It hands the chain's current position out in a :class:`SenderKeyDistributionMessage`
(sent pairwise to every member device); after that, each group message is encrypted once
with the next message key of the chain and signed.

The functions here work on a :class:`SenderKeyRecord` (the stored state of one sender in
one group) and change it in place only once an operation has fully succeeded: a message
that fails any check leaves the record exactly as it was.

- Sending: :func:`create_distribution_message` (making our sender key first if the
  record is empty), then :func:`group_encrypt` per message. The message key of the
  current iteration is used and the chain then advances by one (Baileys skips every
  other iteration; receivers don't mind, but we don't copy that).
- Receiving: :func:`process_distribution_message`, then :func:`group_decrypt`. The
  signature is really verified. A message at most :data:`MAX_FORWARD_JUMPS` iterations
  ahead is accepted (the skipped keys are kept, at most
  :data:`~wamd.signal.sender_key_record.MAX_MESSAGE_KEYS`); an older one decrypts once
  with its kept key; a replay raises :class:`~wamd.errors.DuplicateMessageError`.

WhatsApp's random padding is not applied here: the message layer pads the serialized
``Message`` before calling :func:`group_encrypt` and unpads after :func:`group_decrypt`.
protocol.md §6.6 has the wire facts.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

from wamd.crypto import aes_cbc_decrypt, aes_cbc_encrypt, check_signature, generate_key_pair, hkdf
from wamd.errors import (
    DecryptionError,
    DuplicateMessageError,
    InvalidMessageError,
    NoSessionError,
    SignalError,
)
from wamd.signal.sender_key_message import SenderKeyDistributionMessage, SenderKeyMessage
from wamd.signal.sender_key_record import MAX_MESSAGE_KEYS, SenderKeyRecord, SenderKeyState

__all__ = [
    "MAX_FORWARD_JUMPS",
    "create_distribution_message",
    "group_decrypt",
    "group_encrypt",
    "message_key",
    "process_distribution_message",
]

MAX_FORWARD_JUMPS = 2000
"""How many iterations ahead of the chain a received message may be."""

_MAX_ITERATION = 0xFFFFFFFF
_MESSAGE_KEY_SEED = b"\x01"
_CHAIN_KEY_SEED = b"\x02"
_ZERO_SALT = bytes(32)
_INFO = b"WhisperGroup"

Random = Callable[[int], bytes]


def _hmac(key: bytes, seed: bytes) -> bytes:
    return hmac.digest(key, seed, "sha256")


def message_key(seed: bytes) -> tuple[bytes, bytes]:
    """The ``(iv, cipher_key)`` of a message key seed (HKDF info ``WhisperGroup``)."""
    okm = hkdf(seed, 48, salt=_ZERO_SALT, info=_INFO)
    return okm[:16], okm[16:48]


def create_distribution_message(
    record: SenderKeyRecord, random: Random = os.urandom
) -> SenderKeyDistributionMessage:
    """The distribution message of our sender key, making the key first if there is none.

    A new key has a random id in [0, 2^31 - 1), a random chain key at iteration 0 and a
    fresh signing key pair (``random`` supplies the id and chain key bytes).
    """
    if record.is_empty():
        key_id = int.from_bytes(random(4), "big") % 0x7FFFFFFF
        pair = generate_key_pair()
        record.set_own_state(key_id, 0, random(32), pair.prefixed_public, pair.private)
    state, _ = _own_state(record)
    return SenderKeyDistributionMessage(
        state.key_id, state.iteration, state.chain_key, state.signing_public
    )


def process_distribution_message(
    record: SenderKeyRecord, message: SenderKeyDistributionMessage | bytes
) -> bool:
    """Add a sender's key from its distribution message; False if it was already known."""
    if not isinstance(message, SenderKeyDistributionMessage):
        message = SenderKeyDistributionMessage.parse(message)
    return record.add_state(
        message.key_id, message.iteration, message.chain_key, message.signing_key
    )


def group_encrypt(record: SenderKeyRecord, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    """Encrypt and sign ``plaintext`` with our sender key; returns the ``skmsg`` bytes.

    ``nonce`` (64 bytes) is the signature's random input, fresh if omitted.
    """
    state, private = _own_state(record)
    if state.iteration >= _MAX_ITERATION:
        raise SignalError("sender key chain is exhausted; make a new sender key")
    iv, key = message_key(_hmac(state.chain_key, _MESSAGE_KEY_SEED))
    msg = SenderKeyMessage.build(
        state.key_id,
        state.iteration,
        aes_cbc_encrypt(key, iv, plaintext),
        private,
        nonce,
    )
    state.chain_key = _hmac(state.chain_key, _CHAIN_KEY_SEED)
    state.iteration += 1
    return msg.serialize()


def group_decrypt(record: SenderKeyRecord, data: bytes | SenderKeyMessage) -> bytes:
    """Verify and decrypt an ``skmsg`` from the sender whose state ``record`` holds.

    Raises :class:`~wamd.errors.NoSessionError` for an unknown key id,
    :class:`~wamd.errors.InvalidSignatureError` for a bad signature,
    :class:`~wamd.errors.DuplicateMessageError` for a message already decrypted (or too
    old to have a kept key), :class:`~wamd.errors.InvalidMessageError` for anything else
    wrong; the record is then unchanged.
    """
    msg = data if isinstance(data, SenderKeyMessage) else SenderKeyMessage.parse(data)
    state = record.state_for(msg.key_id)
    if state is None:
        raise NoSessionError(f"no sender key with id {msg.key_id} for this sender")
    check_signature(state.signing_public, msg.signed, msg.signature, "sender key message")
    target = msg.iteration
    if target < state.iteration:
        seed = state.message_keys.get(target)
        if seed is None:
            raise DuplicateMessageError(
                f"sender key message at iteration {target} was already decrypted "
                f"(or is too old; the chain is at {state.iteration})"
            )
        plaintext = _decrypt(seed, msg.ciphertext, target)
        del state.message_keys[target]
        return plaintext
    if target >= _MAX_ITERATION:
        raise InvalidMessageError(f"sender key message iteration {target} is out of range")
    if target - state.iteration > MAX_FORWARD_JUMPS:
        raise InvalidMessageError(
            f"sender key message at iteration {target} is {target - state.iteration} ahead of "
            f"the chain (at most {MAX_FORWARD_JUMPS} allowed)"
        )
    skipped: list[tuple[int, bytes]] = []
    chain = state.chain_key
    for iteration in range(state.iteration, target):
        skipped.append((iteration, _hmac(chain, _MESSAGE_KEY_SEED)))
        chain = _hmac(chain, _CHAIN_KEY_SEED)
    plaintext = _decrypt(_hmac(chain, _MESSAGE_KEY_SEED), msg.ciphertext, target)
    if skipped:
        keys = state.message_keys
        keys.update(skipped)
        excess = len(keys) - MAX_MESSAGE_KEYS
        if excess > 0:
            for old in list(keys)[:excess]:
                del keys[old]
    state.chain_key = _hmac(chain, _CHAIN_KEY_SEED)
    state.iteration = target + 1
    return plaintext


def _decrypt(seed: bytes, ciphertext: bytes, iteration: int) -> bytes:
    iv, key = message_key(seed)
    try:
        return aes_cbc_decrypt(key, iv, ciphertext)
    except DecryptionError as exc:
        raise InvalidMessageError(
            f"sender key message at iteration {iteration} does not decrypt ({exc})"
        ) from exc


def _own_state(record: SenderKeyRecord) -> tuple[SenderKeyState, bytes]:
    state = record.newest_state()
    if state is None:
        raise NoSessionError("no sender key to encrypt with")
    private = state.signing_private
    if private is None or len(private) != 32:
        raise NoSessionError("the newest sender key state has no signing private key")
    return state, private
