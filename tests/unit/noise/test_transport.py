"""The post-handshake transport cipher: IV layout, counters, failure behaviour."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wamd.errors import FrameError
from wamd.noise import MAX_COUNTER, MAX_FRAME_SIZE, FrameReader, TransportCipher, nonce


def _pair() -> tuple[TransportCipher, TransportCipher]:
    k1, k2 = os.urandom(32), os.urandom(32)
    return TransportCipher(k1, k2), TransportCipher(k2, k1)


def test_nonce_is_eight_zero_bytes_and_a_big_endian_counter() -> None:
    assert nonce(0) == bytes(12)
    assert nonce(0x01020304) == bytes(8) + b"\x01\x02\x03\x04"


def test_frames_are_aes_gcm_with_counter_ivs_and_no_aad() -> None:
    write_key, read_key = os.urandom(32), os.urandom(32)
    cipher = TransportCipher(write_key, read_key)
    reference = AESGCM(write_key)
    for n in range(5):
        plaintext = os.urandom(n * 10)
        iv = bytes(8) + n.to_bytes(4, "big")
        assert cipher.encrypt(plaintext) == reference.encrypt(iv, plaintext, None)
    incoming = AESGCM(read_key)
    for n in range(5):
        iv = bytes(8) + n.to_bytes(4, "big")
        assert cipher.decrypt(incoming.encrypt(iv, b"msg%d" % n, None)) == b"msg%d" % n
    assert (cipher.write_counter, cipher.read_counter) == (5, 5)


def test_directions_have_independent_counters() -> None:
    a, b = _pair()
    for i in range(3):
        assert b.decrypt(a.encrypt(b"a%d" % i)) == b"a%d" % i
    assert a.decrypt(b.encrypt(b"b0")) == b"b0"
    assert (a.write_counter, a.read_counter, b.write_counter, b.read_counter) == (3, 1, 1, 3)


def test_encrypt_frame_output_passes_through_a_reader() -> None:
    a, b = _pair()
    wire = b"".join(a.encrypt_frame(b"x" * i) for i in range(50))
    frames = FrameReader().feed(wire)
    assert [b.decrypt(f) for f in frames] == [b"x" * i for i in range(50)]


def test_tampered_frame_raises_and_the_read_side_stays_failed() -> None:
    a, b = _pair()
    good = a.encrypt(b"first")
    bad = bytearray(good)
    bad[0] ^= 1
    with pytest.raises(FrameError, match=r"#0 .* failed to decrypt"):
        b.decrypt(bytes(bad))
    assert b.read_failed
    assert b.read_counter == 0
    with pytest.raises(FrameError, match="earlier frame failed"):
        b.decrypt(good)  # even the genuine frame is refused now: the stream is broken
    assert a.decrypt(b.encrypt(b"still can send")) == b"still can send"


def test_a_lost_frame_is_detected_at_the_next_one() -> None:
    a, b = _pair()
    a.encrypt(b"lost")
    with pytest.raises(FrameError):
        b.decrypt(a.encrypt(b"second"))


def test_reordered_frames_do_not_decrypt() -> None:
    a, b = _pair()
    first, second = a.encrypt(b"1"), a.encrypt(b"2")
    with pytest.raises(FrameError):
        b.decrypt(second)
    del first


@pytest.mark.parametrize("frame", [b"", b"short", bytes(15)])
def test_frames_shorter_than_a_tag_raise_frame_error(frame: bytes) -> None:
    _, b = _pair()
    with pytest.raises(FrameError):
        b.decrypt(frame)


def test_counters_never_wrap() -> None:
    a, b = _pair()
    a._write_counter = MAX_COUNTER  # reaching it honestly takes 2**32 frames
    b._read_counter = MAX_COUNTER
    assert b.decrypt(a.encrypt(b"last")) == b"last"
    with pytest.raises(FrameError, match="write counter exhausted"):
        a.encrypt(b"one more")
    with pytest.raises(FrameError, match="read counter exhausted"):
        b.decrypt(bytes(20))


def test_a_plaintext_too_big_for_a_frame_is_refused_without_using_a_counter() -> None:
    a, _ = _pair()
    with pytest.raises(FrameError, match="does not fit"):
        a.encrypt(bytes(MAX_FRAME_SIZE - 15))
    assert a.write_counter == 0


def test_keys_must_be_32_bytes() -> None:
    with pytest.raises(FrameError):
        TransportCipher(bytes(31), bytes(32))


def test_repr_shows_counters_not_keys() -> None:
    key = bytes(range(32))
    text = repr(TransportCipher(key, key))
    assert key.hex() not in text
    assert "write_counter=0" in text
