"""Intro header and frame reader: byte layout, split and coalesced delivery, limits."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.errors import FrameError
from wamd.noise import (
    MAX_FRAME_SIZE,
    WA_HEADER,
    FrameReader,
    encode_frame,
    intro_header,
)


def test_wa_header_is_wa_version_6_dictionary_3() -> None:
    assert bytes([0x57, 0x41, 0x06, 0x03]) == WA_HEADER
    assert intro_header() == WA_HEADER
    assert intro_header(b"") == WA_HEADER


def test_intro_with_routing_info_has_the_ed_block_in_front() -> None:
    info = bytes(i % 256 for i in range(300))
    intro = intro_header(info)
    assert intro[:4] == b"ED\x00\x01"
    assert intro[4:7] == bytes([0x00, 0x01, 0x2C])  # 300, 3 bytes big-endian
    assert intro[7:307] == info
    assert intro[307:] == WA_HEADER
    assert len(intro) == 7 + len(info) + 4


def test_encode_frame_prefixes_a_three_byte_big_endian_length() -> None:
    assert encode_frame(b"") == b"\x00\x00\x00"
    assert encode_frame(b"abc") == b"\x00\x00\x03abc"
    body = os.urandom(0x01_02_03)
    assert encode_frame(body) == b"\x01\x02\x03" + body


def test_encode_frame_refuses_more_than_the_length_field_holds() -> None:
    assert len(encode_frame(bytes(MAX_FRAME_SIZE))) == MAX_FRAME_SIZE + 3
    with pytest.raises(FrameError, match="limit"):
        encode_frame(bytes(MAX_FRAME_SIZE + 1))


def test_reader_returns_frames_in_order_from_one_coalesced_message() -> None:
    payloads = [b"", b"a", os.urandom(1000), b"xyz"]
    reader = FrameReader()
    assert reader.feed(b"".join(encode_frame(p) for p in payloads)) == payloads
    assert reader.buffered == 0


def test_reader_assembles_a_frame_delivered_one_byte_at_a_time() -> None:
    payload = os.urandom(70_000)
    wire = encode_frame(payload)
    reader = FrameReader()
    got: list[bytes] = []
    for i in range(len(wire)):
        got += reader.feed(wire[i : i + 1])
        if i < len(wire) - 1:
            assert got == []
            assert reader.buffered == i + 1
    assert got == [payload]
    assert reader.buffered == 0


def test_reader_keeps_a_split_length_header_until_it_is_complete() -> None:
    reader = FrameReader()
    assert reader.feed(b"\x00") == []
    assert reader.feed(b"\x00") == []
    assert reader.feed(b"\x02a") == []
    assert reader.feed(b"b\x00\x00\x01c\x00") == [b"ab", b"c"]
    assert reader.buffered == 1


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=600), max_size=12),
    seed=st.integers(0, 2**32),
    intro=st.one_of(st.none(), st.binary(max_size=40)),
)
def test_any_chunking_of_the_stream_yields_the_same_frames(
    payloads: list[bytes], seed: int, intro: bytes | None
) -> None:
    wire = b"".join(encode_frame(p) for p in payloads)
    if intro is not None:
        wire = intro_header(intro) + wire
    rng = random.Random(seed)
    reader = FrameReader(expect_intro=intro is not None)
    got: list[bytes] = []
    pos = 0
    while pos < len(wire):
        step = rng.choice((0, 1, 2, 3, 5, 64, 1000))
        got += reader.feed(wire[pos : pos + step])
        pos += step
    assert got == payloads
    assert reader.buffered == 0
    if intro is not None:
        assert reader.routing_info == (intro or None)


def test_reader_reads_the_plain_wa_intro_then_frames() -> None:
    reader = FrameReader(expect_intro=True)
    assert reader.intro_pending
    assert reader.feed(WA_HEADER + encode_frame(b"hello")) == [b"hello"]
    assert not reader.intro_pending
    assert reader.routing_info is None


def test_reader_reads_the_routing_block_byte_by_byte() -> None:
    info = os.urandom(77)
    wire = intro_header(info) + encode_frame(b"hi")
    reader = FrameReader(expect_intro=True)
    got: list[bytes] = []
    for i in range(len(wire)):
        got += reader.feed(wire[i : i + 1])
    assert got == [b"hi"]
    assert reader.routing_info == info


@pytest.mark.parametrize(
    "intro",
    [b"WB", b"GET ", b"WA\x05\x03", b"WA\x06\x02", b"ED\x01", b"EX", b"\x00\x00\x05"],
)
def test_reader_refuses_a_stream_without_the_wa_intro(intro: bytes) -> None:
    reader = FrameReader(expect_intro=True)
    with pytest.raises(FrameError, match="intro"):
        reader.feed(intro)


def test_reader_refuses_a_routing_block_not_followed_by_the_wa_header() -> None:
    reader = FrameReader(expect_intro=True)
    with pytest.raises(FrameError, match="WA header after the 2-byte routing info"):
        reader.feed(b"ED\x00\x01\x00\x00\x02abWA\x06\x04")


def test_reader_without_intro_treats_the_first_bytes_as_a_frame_header() -> None:
    reader = FrameReader()
    assert reader.feed(WA_HEADER) == []  # "WA\x06" announces a 5,703,174-byte frame
    assert reader.buffered == 4


def test_reader_refuses_an_oversized_frame_as_soon_as_the_header_arrives() -> None:
    reader = FrameReader(max_frame_size=1000)
    assert reader.feed(encode_frame(bytes(1000))) == [bytes(1000)]
    with pytest.raises(FrameError, match="states 1001 bytes; the limit is 1000"):
        reader.feed(b"\x00\x03\xe9")
    assert reader.buffered == 0


def test_reader_refuses_an_oversized_routing_block() -> None:
    reader = FrameReader(expect_intro=True, max_frame_size=10)
    with pytest.raises(FrameError, match="routing info states 11 bytes"):
        reader.feed(b"ED\x00\x01\x00\x00\x0b")


def test_reader_stays_failed_after_an_error() -> None:
    reader = FrameReader(expect_intro=True)
    with pytest.raises(FrameError):
        reader.feed(b"XX")
    with pytest.raises(FrameError, match="already failed"):
        reader.feed(WA_HEADER + encode_frame(b"ok"))


def test_reader_never_buffers_more_than_one_partial_frame() -> None:
    reader = FrameReader(max_frame_size=5000)
    rng = random.Random(7)
    wire = b"".join(encode_frame(os.urandom(rng.randrange(5001))) for _ in range(200))
    pos = 0
    while pos < len(wire):
        step = rng.randrange(1, 20_000)
        reader.feed(wire[pos : pos + step])
        pos += step
        assert reader.buffered < 3 + 5000


def test_reader_rejects_a_limit_beyond_the_length_field() -> None:
    with pytest.raises(FrameError):
        FrameReader(max_frame_size=MAX_FRAME_SIZE + 1)


def test_routing_info_too_long_for_its_length_field_is_refused() -> None:
    with pytest.raises(FrameError, match="routing info"):
        intro_header(bytes(MAX_FRAME_SIZE + 1))
