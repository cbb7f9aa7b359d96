"""The double ratchet on one :class:`SessionState`: key derivations, steps, one message.

:func:`encrypt_with_state` and :func:`decrypt_with_state` change the state only once a
message has been fully produced or verified: a decrypt that needs a DH ratchet step
works on a copy of the state and returns it, so a message that fails any check leaves
the stored record as it was.

Hot paths call ``cryptography``'s X25519 objects and OpenSSL's HMAC objects directly
rather than the :mod:`wamd.crypto` helpers. That matters measurably for X25519: the
helper loads the private key from bytes on every call, which costs as much as the
agreement itself (about 40 µs here), so the ratchet keeps the loaded key on the state.
For HMAC, ``_hashlib.hmac_new(...).digest()`` is about twice as fast as ``hmac.digest``
(which sets OpenSSL up afresh per call), and a key used twice is set up once and copied.
The message-key HKDF goes one step further and runs HMAC on SHA-256 objects it copies
(about 0.5 µs less per message key than HMAC objects).
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256 as _sha256
from typing import Protocol, cast

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC

from wamd.crypto import KeyPair
from wamd.errors import DuplicateMessageError, InvalidKeyError, InvalidMessageError
from wamd.signal.session_state import CHAIN_RECEIVING, CHAIN_SENDING, Chain, SessionState
from wamd.signal.wire import (
    MAC_LEN,
    VERSION_BYTE,
    ParsedSignalMessage,
    encode_signal_message_body,
)

__all__ = [
    "MAX_FUTURE_MESSAGES",
    "MAX_RECEIVING_CHAINS",
    "MAX_STORED_MESSAGE_KEYS",
    "EphemeralKey",
    "KeyGen",
    "add_sending_chain",
    "agree",
    "decrypt_with_state",
    "derive_message_keys",
    "encrypt_with_state",
    "forget_private_key",
    "load_private_key",
    "new_ephemeral",
    "remember_private_key",
    "root_step",
]

MAX_FUTURE_MESSAGES = 2000
"""A message more than this many ahead of its chain is refused (as libsignal does)."""
MAX_STORED_MESSAGE_KEYS = 2000
"""At most this many skipped message keys are kept per chain; the oldest go first."""
MAX_RECEIVING_CHAINS = 5
"""Receiving chains kept per session (libsignal's native implementations keep 5);
libsignal-node keeps every one, which is why its records grow without bound."""

_ONE = b"\x01"
_TWO = b"\x02"
_MSG_KEYS_INFO1 = b"WhisperMessageKeys\x01"
_MSG_KEYS_INFO2 = b"WhisperMessageKeys\x02"
_MSG_KEYS_INFO3 = b"WhisperMessageKeys\x03"
_RATCHET_INFO1 = b"WhisperRatchet\x01"
_RATCHET_INFO2 = b"WhisperRatchet\x02"
_VERSION_PREFIX = bytes((VERSION_BYTE,))
_PADDING = [bytes((n,)) * n for n in range(17)]  # PKCS#7 padding of n bytes


class _Hmac(Protocol):
    def copy(self) -> _Hmac: ...
    def update(self, msg: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


_HmacNew = Callable[[bytes, bytes, str], _Hmac]


def _python_hmac_new(key: bytes, msg: bytes, digest: str) -> _Hmac:
    return hmac.new(key, msg, digest)


try:
    from _hashlib import hmac_new as _openssl_hmac_new

    _hmac_new: _HmacNew = _openssl_hmac_new
except ImportError:  # pragma: no cover - a Python without OpenSSL's HMAC
    _hmac_new = _python_hmac_new


# ``Cipher(...)`` spends more time checking its arguments than AES-CBC on a short message
# takes (about 4 of 7 µs here). The cipher key (32 bytes) and IV (16 bytes) always come
# from HKDF, so the ratchet asks ``cryptography``'s backend for the context directly,
# with ``AES`` and ``CBC`` parameter objects made without re-checking those lengths
# (about 1 µs less per message again), when that entry point exists and agrees with
# ``Cipher`` (checked once, at import); otherwise with checked parameter objects, or
# else through ``Cipher``.
def _cipher_encryptor(key: bytes, iv: bytes) -> CipherContext:
    return Cipher(AES(key), CBC(iv)).encryptor()


def _cipher_decryptor(key: bytes, iv: bytes) -> CipherContext:
    return Cipher(AES(key), CBC(iv)).decryptor()


_CbcFactory = Callable[[bytes, bytes], CipherContext]


def _agrees_with_cipher(encryptor: _CbcFactory, decryptor: _CbcFactory) -> bool:
    key, iv, probe = bytes(range(32)), bytes(range(16)), bytes(range(48))
    with contextlib.suppress(Exception):
        enc, ref = encryptor(key, iv), _cipher_encryptor(key, iv)
        out = enc.update(probe) + enc.finalize()
        dec = decryptor(key, iv)
        return (
            out == ref.update(probe) + ref.finalize() and dec.update(out) + dec.finalize() == probe
        )
    return False


def _backend_cbc() -> tuple[_CbcFactory, _CbcFactory] | None:
    """The backend's AES-CBC context makers, if present and in agreement with Cipher."""
    try:
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl  # noqa: PLC0415

        create_encryption_ctx = rust_openssl.ciphers.create_encryption_ctx
        create_decryption_ctx = rust_openssl.ciphers.create_decryption_ctx
    except (ImportError, AttributeError):
        return None
    new = object.__new__

    def unchecked_encryptor(key: bytes, iv: bytes) -> CipherContext:
        algorithm, mode = new(AES), new(CBC)
        algorithm.key = key
        mode._initialization_vector = iv
        return create_encryption_ctx(algorithm, mode)

    def unchecked_decryptor(key: bytes, iv: bytes) -> CipherContext:
        algorithm, mode = new(AES), new(CBC)
        algorithm.key = key
        mode._initialization_vector = iv
        return create_decryption_ctx(algorithm, mode)

    def encryptor(key: bytes, iv: bytes) -> CipherContext:
        return create_encryption_ctx(AES(key), CBC(iv))

    def decryptor(key: bytes, iv: bytes) -> CipherContext:
        return create_decryption_ctx(AES(key), CBC(iv))

    for pair in ((unchecked_encryptor, unchecked_decryptor), (encryptor, decryptor)):
        if _agrees_with_cipher(*pair):
            return pair
    return None


_cbc_encryptor, _cbc_decryptor = _backend_cbc() or (_cipher_encryptor, _cipher_decryptor)


# HMAC-SHA256 with a 32-byte key K is SHA256((K ^ opad) || SHA256((K ^ ipad) || msg)),
# the key padded with zeros to the 64-byte block. HKDF's extract step for message keys
# always uses a zero salt, so its two padded-key hashes are computed once.
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_IPAD_FILL = b"\x36" * 32
_OPAD_FILL = b"\x5c" * 32
_ZERO_SALT_INNER = _sha256(b"\x36" * 64)
_ZERO_SALT_OUTER = _sha256(b"\x5c" * 64)


@dataclass(frozen=True, slots=True)
class EphemeralKey:
    """A ratchet key pair with its 33-byte public key and a ready X25519 object."""

    private: bytes
    public33: bytes
    key: X25519PrivateKey

    def __repr__(self) -> str:
        return f"EphemeralKey(public={self.public33.hex()}, private=<hidden>)"


KeyGen = Callable[[], KeyPair]
"""Where fresh ratchet key pairs come from (tests inject deterministic ones)."""


def new_ephemeral(keygen: KeyGen | None = None) -> EphemeralKey:
    """A fresh ratchet key pair (from ``keygen`` if given, else random)."""
    if keygen is None:
        key = X25519PrivateKey.generate()
        return EphemeralKey(
            key.private_bytes_raw(), b"\x05" + key.public_key().public_bytes_raw(), key
        )
    pair = keygen()
    return EphemeralKey(
        pair.private, pair.prefixed_public, X25519PrivateKey.from_private_bytes(pair.private)
    )


def agree(key: X25519PrivateKey, public: bytes) -> bytes:
    """X25519 of ``key`` and a peer's public key (32 bytes, or 33 with the 0x05 prefix).

    A key that is not a usable X25519 public key raises InvalidKeyError.
    """
    raw = public[1:] if len(public) == 33 else public
    try:
        return key.exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        raise InvalidKeyError("a peer key is not a usable X25519 public key") from None


_LOADED_KEYS: dict[bytes, X25519PrivateKey] = {}
_LOADED_KEYS_MAX = 1024


def load_private_key(private: bytes) -> X25519PrivateKey:
    """The X25519 key object for 32 private-key bytes, from a small cache when possible.

    Loading a private key costs as much as an agreement, and a session's current ratchet
    key is loaded again on every ratchet step after its record went through bytes. The
    cache holds at most 1,024 keys, oldest out first, and a ratchet key leaves it as soon
    as a step replaces it (:func:`forget_private_key`), so it keeps no key longer than the
    records do.
    """
    key = _LOADED_KEYS.get(private)
    if key is None:
        key = X25519PrivateKey.from_private_bytes(private)
        if len(_LOADED_KEYS) >= _LOADED_KEYS_MAX:
            # StopIteration/RuntimeError: emptied or changed meanwhile by another thread.
            with contextlib.suppress(StopIteration, RuntimeError):
                _LOADED_KEYS.pop(next(iter(_LOADED_KEYS)), None)
        _LOADED_KEYS[private] = key
    return key


def remember_private_key(ephemeral: EphemeralKey) -> None:
    """Put a freshly made ratchet key in the cache (it is loaded again at the next step)."""
    if len(_LOADED_KEYS) < _LOADED_KEYS_MAX:
        _LOADED_KEYS[ephemeral.private] = ephemeral.key


def forget_private_key(private: bytes) -> None:
    """Drop a private key from the cache (a ratchet key that was just replaced)."""
    _LOADED_KEYS.pop(private, None)


def _state_key(state: SessionState) -> X25519PrivateKey:
    cached = state.ephemeral_key_cache
    if cached is not None:
        # Only new_ephemeral() and this function fill the cache, always with this type
        # (an isinstance check against the ABC costs more than the lookup it guards).
        return cast(X25519PrivateKey, cached)
    key = load_private_key(state.ephemeral_private)
    state.ephemeral_key_cache = key
    return key


def root_step(root_key: bytes, dh_output: bytes) -> tuple[bytes, bytes]:
    """HKDF(dh, salt=root, info "WhisperRatchet") → (next root key, chain key)."""
    prk = _hmac_new(root_key, dh_output, "sha256").digest()
    t1 = _hmac_new(prk, _RATCHET_INFO1, "sha256").digest()
    t2 = _hmac_new(prk, t1 + _RATCHET_INFO2, "sha256").digest()
    return t1, t2


def derive_message_keys(seed: bytes) -> tuple[bytes, bytes, bytes]:
    """HKDF(seed, salt 32×0, info "WhisperMessageKeys") → (cipher key, MAC key, IV)."""
    # HMAC-SHA256 spelled out on SHA-256 objects: the zero-salt extract starts from
    # hashes of the padded key that are computed once, and the expand key's inner and
    # outer hashes are each set up once and copied for the three blocks.
    inner = _ZERO_SALT_INNER.copy()
    inner.update(seed)
    outer = _ZERO_SALT_OUTER.copy()
    outer.update(inner.digest())
    prk = outer.digest()
    key_inner = _sha256(prk.translate(_IPAD) + _IPAD_FILL)
    key_outer = _sha256(prk.translate(_OPAD) + _OPAD_FILL)
    h = key_inner.copy()
    h.update(_MSG_KEYS_INFO1)
    o = key_outer.copy()
    o.update(h.digest())
    t1 = o.digest()
    h = key_inner.copy()
    h.update(t1 + _MSG_KEYS_INFO2)
    o = key_outer.copy()
    o.update(h.digest())
    t2 = o.digest()
    key_inner.update(t2 + _MSG_KEYS_INFO3)
    key_outer.update(key_inner.digest())
    return t1, t2, key_outer.digest()[:16]


def _chain_step(key: bytes) -> tuple[bytes, bytes]:
    """(message key seed, next chain key) for chain key ``key``."""
    seed = _hmac_new(key, b"", "sha256")
    nxt = seed.copy()
    seed.update(_ONE)
    nxt.update(_TWO)
    return seed.digest(), nxt.digest()


def add_sending_chain(state: SessionState, remote_key: bytes) -> None:
    """Derive the sending chain for our current ratchet key against ``remote_key``."""
    root, chain_key = root_step(state.root_key, agree(_state_key(state), remote_key))
    state.chains[state.ephemeral_public] = Chain(CHAIN_SENDING, -1, chain_key, {})
    state.root_key = root


def _fill(chain: Chain, counter: int) -> None:
    """Advance ``chain`` to ``counter``, storing the message keys on the way."""
    if chain.counter >= counter:
        return
    if counter - chain.counter > MAX_FUTURE_MESSAGES:
        raise InvalidMessageError(
            f"message counter {counter} is more than {MAX_FUTURE_MESSAGES} ahead of its chain"
        )
    key = chain.key
    if key is None:
        raise InvalidMessageError("message belongs to a closed chain beyond its last key")
    keys = chain.message_keys
    n = chain.counter
    while n < counter:
        n += 1
        keys[n], key = _chain_step(key)
    chain.key = key
    chain.counter = n
    if len(keys) > MAX_STORED_MESSAGE_KEYS:
        for old in sorted(keys)[: len(keys) - MAX_STORED_MESSAGE_KEYS]:
            del keys[old]


def _step(
    state: SessionState, remote_key: bytes, previous_counter: int, keygen: KeyGen | None
) -> None:
    """A DH ratchet step on receiving a new ratchet key from the peer."""
    previous = state.chains.get(state.last_remote_ephemeral)
    if previous is not None:
        _fill(previous, previous_counter)
        previous.key = None
    root, chain_key = root_step(state.root_key, agree(_state_key(state), remote_key))
    state.chains[remote_key] = Chain(CHAIN_RECEIVING, -1, chain_key, {})
    state.root_key = root
    old_sending = state.chains.pop(state.ephemeral_public, None)
    if old_sending is not None:
        state.previous_counter = old_sending.counter
    eph = new_ephemeral(keygen)
    forget_private_key(state.ephemeral_private)
    remember_private_key(eph)
    state.ephemeral_public = eph.public33
    state.ephemeral_private = eph.private
    state.ephemeral_key_cache = eph.key
    add_sending_chain(state, remote_key)
    state.last_remote_ephemeral = remote_key
    receiving = [k for k, c in state.chains.items() if c.chain_type == CHAIN_RECEIVING]
    for k in receiving[: max(0, len(receiving) - MAX_RECEIVING_CHAINS)]:
        del state.chains[k]


def encrypt_with_state(state: SessionState, our_identity33: bytes, plaintext: bytes) -> bytes:
    """Encrypt on the state's sending chain; returns the whole ``msg`` bytes."""
    chain = state.chains.get(state.ephemeral_public)
    if chain is None or chain.chain_type != CHAIN_SENDING or chain.key is None:
        raise InvalidMessageError("session has no usable sending chain")
    counter = chain.counter + 1
    seed, next_key = _chain_step(chain.key)
    cipher_key, mac_key, iv = derive_message_keys(seed)
    enc = _cbc_encryptor(cipher_key, iv)
    pad = 16 - len(plaintext) % 16
    ciphertext = enc.update(plaintext + _PADDING[pad]) + enc.finalize()
    body = encode_signal_message_body(
        state.ephemeral_public, counter, state.previous_counter, ciphertext
    )
    mac = _hmac_new(
        mac_key,
        b"".join((our_identity33, state.remote_identity_key, _VERSION_PREFIX, body)),
        "sha256",
    ).digest()[:MAC_LEN]
    chain.key = next_key
    chain.counter = counter
    return _VERSION_PREFIX + body + mac


def decrypt_with_state(
    state: SessionState,
    msg: ParsedSignalMessage,
    our_identity33: bytes,
    keygen: KeyGen | None = None,
) -> tuple[bytes, SessionState]:
    """Decrypt ``msg`` with ``state``; returns the plaintext and the state to keep.

    ``state`` itself is only changed once the message has verified: a message on a
    chain the state already has is worked out on the side and committed at the end; one
    that needs a DH ratchet step is worked on a copy, which is returned. Raises
    DuplicateMessageError for a message whose key was already used, and
    InvalidMessageError for anything else that does not check out (the MAC above all).
    """
    work = state
    if msg.ratchet_key not in state.chains:
        work = state.copy()
        _step(work, msg.ratchet_key, msg.previous_counter, keygen)
    chain = work.chains[msg.ratchet_key]
    if chain.chain_type != CHAIN_RECEIVING:
        raise InvalidMessageError("message names our own sending chain")
    counter = msg.counter
    skipped: dict[int, bytes] | None = None
    next_key = chain.key
    if counter <= chain.counter:
        seed = chain.message_keys.get(counter)
        if seed is None:
            raise DuplicateMessageError(
                f"message {counter} of this chain was already decrypted (or is too old)"
            )
    else:
        if counter - chain.counter > MAX_FUTURE_MESSAGES:
            raise InvalidMessageError(
                f"message counter {counter} is more than {MAX_FUTURE_MESSAGES} ahead of its chain"
            )
        if next_key is None:
            raise InvalidMessageError("message belongs to a closed chain beyond its last key")
        skipped = {}
        if counter > chain.counter + 1:
            for n in range(chain.counter + 1, counter):
                skipped[n], next_key = _chain_step(next_key)
        seed, next_key = _chain_step(next_key)
    cipher_key, mac_key, iv = derive_message_keys(seed)
    expected = _hmac_new(
        mac_key,
        b"".join((work.remote_identity_key, our_identity33, _VERSION_PREFIX, msg.serialized)),
        "sha256",
    ).digest()[:MAC_LEN]
    if not hmac.compare_digest(expected, msg.mac):
        raise InvalidMessageError("signal message MAC does not verify")
    ciphertext = msg.ciphertext
    if not ciphertext or len(ciphertext) % 16:
        raise InvalidMessageError(f"ciphertext length {len(ciphertext)} is not a multiple of 16")
    dec = _cbc_decryptor(cipher_key, iv)
    padded = dec.update(ciphertext) + dec.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != _PADDING[pad]:
        raise InvalidMessageError("ciphertext has invalid PKCS#7 padding")
    # Everything checked out: commit.
    if skipped is None:
        del chain.message_keys[counter]
    else:
        keys = chain.message_keys
        if skipped:
            keys.update(skipped)
        chain.key = next_key
        chain.counter = counter
        if len(keys) > MAX_STORED_MESSAGE_KEYS:
            for old in sorted(keys)[: len(keys) - MAX_STORED_MESSAGE_KEYS]:
                del keys[old]
    if work.pending_pre_key is not None:
        work.pending_pre_key = None
    return padded[:-pad], work
