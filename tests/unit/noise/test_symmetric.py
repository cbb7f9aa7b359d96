"""SymmetricState's running hash, computed here from the Noise definitions with hashlib."""

from __future__ import annotations

import hashlib

from wamd.noise import PROTOCOL_NAME, WA_HEADER, SymmetricState


def test_handshake_hash_follows_mix_hash_and_encrypt_and_hash() -> None:
    state = SymmetricState(WA_HEADER)
    h = hashlib.sha256(PROTOCOL_NAME + WA_HEADER).digest()
    assert state.handshake_hash == h
    state.mix_hash(b"ephemeral")
    h = hashlib.sha256(h + b"ephemeral").digest()
    assert state.handshake_hash == h
    state.mix_key(bytes(32))
    ciphertext = state.encrypt_and_hash(b"static")
    assert state.handshake_hash == hashlib.sha256(h + ciphertext).digest()


def test_both_roles_end_with_the_same_handshake_hash() -> None:
    sender, receiver = SymmetricState(WA_HEADER), SymmetricState(WA_HEADER)
    for state in (sender, receiver):
        state.mix_hash(b"e")
        state.mix_key(b"\x01" * 32)
    receiver.decrypt_and_hash(sender.encrypt_and_hash(b"payload"), "payload")
    assert sender.handshake_hash == receiver.handshake_hash
    other = SymmetricState(WA_HEADER)
    other.mix_hash(b"f")
    assert other.handshake_hash != sender.handshake_hash
