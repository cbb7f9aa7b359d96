"""The native record reader's stored form agrees with the generic reader and writer.

Records in the canonical layout are read with compiled patterns and keep their stored
bytes while they stay the same (``wamd.signal._record_native``). These tests pin that
this is only a faster route to the same values and the same bytes: the stored reader
accepts a subset of what the generic reader accepts and decodes it identically, and a
record changed in any way after reading is written exactly as the same record read the
generic way and changed the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.crypto import KeyPair
from wamd.errors import InvalidRecordError
from wamd.signal import _record_native as native
from wamd.signal import _record_stored as stored_form
from wamd.signal.keys import PreKeyBundle, generate_pre_keys, generate_signed_pre_key
from wamd.signal.session_builder import init_outgoing
from wamd.signal.session_cipher import decrypt_message, decrypt_pre_key_message, encrypt
from wamd.signal.session_record import SessionRecord
from wamd.signal.session_state import Chain, PendingPreKey, SessionState
from wamd.signal.wire import PreKeyMessage

from .test_session_record import _records


def _generic(data: bytes) -> list[tuple[bytes, SessionState]] | InvalidRecordError:
    try:
        return [(s.base_key, s) for s in native._decode_generic(data)]
    except InvalidRecordError as exc:
        return exc


@settings(max_examples=150, deadline=None)
@given(_records())
def test_canonical_records_take_the_stored_path_and_read_the_same(record: SessionRecord) -> None:
    data = record.serialize()
    stored = stored_form.decode_stored(data)
    with_keys = any(c.message_keys for s in record.sessions.values() for c in s.chains.values())
    # Every record without stored message keys takes the stored path (the strategy makes
    # keys of the usual sizes); the rest goes the generic way.
    assert (stored is None) == with_keys
    assert list(native.decode_sessions(data).items()) == _generic(data)
    assert _generic(data) == list(record.sessions.items())
    again = SessionRecord.deserialize(data)
    assert again == record
    assert again.serialize() == data


_edit = st.tuples(st.integers(0, 10_000), st.integers(0, 255))


@settings(max_examples=300, deadline=None)
@given(_records(), st.lists(_edit, min_size=1, max_size=3), st.integers(0, 3))
def test_damaged_bytes_never_read_differently(
    record: SessionRecord, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(record.serialize())
    if not data:
        return
    for where, value in edits:
        data[where % len(data)] = value
    damaged = bytes(data[: len(data) - cut])
    stored = stored_form.decode_stored(damaged)
    generic = _generic(damaged)
    # The stored reader either declines (the generic reader then decides) or reads
    # exactly what the generic reader reads; it never accepts what that one refuses.
    if stored is not None:
        assert list(stored.items()) == generic
        assert native.encode_states(stored.values()) == damaged


@pytest.mark.parametrize(
    "data", [b"", b"\x08", b"\x08\x01\x12", b"\x08\x01\x12\xff", b"\x08\x01\x6a"]
)
def test_short_or_odd_bytes_are_declined_or_refused(data: bytes) -> None:
    assert stored_form.decode_stored(data) is None
    with pytest.raises(InvalidRecordError):
        SessionRecord.deserialize(data)


def _conversation() -> tuple[bytes, bytes]:
    """Native records of both sides after a short conversation (pending pre-key gone)."""
    alice, bob = KeyPair.generate(), KeyPair.generate()
    spk = generate_signed_pre_key(bob, 1)
    (pk,) = generate_pre_keys(1, 1)
    a, b = SessionRecord(), SessionRecord()
    init_outgoing(a, alice, PreKeyBundle.of(7, bob, spk, pk), now_ms=1_800_000_000_000)
    out = encrypt(a, alice, 5, b"hello")
    decrypt_pre_key_message(
        b,
        bob,
        PreKeyMessage.parse(out.body),
        signed_pre_key=spk.key_pair,
        one_time_pre_key=pk.key_pair,
        now_ms=1_800_000_000_001,
    )
    for i in range(3):
        back = encrypt(b, bob, 7, b"reply %d" % i)
        assert decrypt_message(a, alice, back.body, now_ms=1_800_000_000_010 + i) == b"reply %d" % i
        more = encrypt(a, alice, 5, b"more %d" % i)
        assert decrypt_message(b, bob, more.body, now_ms=1_800_000_000_020 + i) == b"more %d" % i
    return a.serialize(), b.serialize()


def _first(record: SessionRecord) -> SessionState:
    return next(iter(record.sessions.values()))


def _first_chain(record: SessionRecord) -> Chain:
    return next(iter(_first(record).chains.values()))


def _set(field: str, value: object) -> Callable[[SessionRecord], None]:
    def change(record: SessionRecord) -> None:
        setattr(_first(record), field, value)

    return change


def _chain_change(change: Callable[[Chain], None]) -> Callable[[SessionRecord], None]:
    return lambda record: change(_first_chain(record))


def _add_chain(record: SessionRecord) -> None:
    _first(record).chains[b"\x05" + b"n" * 32] = Chain(2, 4, b"k" * 32, {})


def _add_and_drop_message_key(chain: Chain) -> None:
    chain.message_keys[99] = b"s" * 32
    del chain.message_keys[99]


def _move_chain(record: SessionRecord) -> None:
    chains = _first(record).chains
    key = next(iter(chains))
    chains[b"\x05" + b"m" * 32] = chains.pop(key)


_CHANGES: dict[str, Callable[[SessionRecord], None]] = {
    "nothing": lambda record: None,
    "registration_id": _set("registration_id", 16_000),
    "ephemeral_public": _set("ephemeral_public", b"\x05" + b"e" * 32),
    "ephemeral_private": _set("ephemeral_private", b"p" * 32),
    "last_remote_ephemeral": _set("last_remote_ephemeral", b"\x05" + b"l" * 32),
    "previous_counter": _set("previous_counter", 300),
    "root_key": _set("root_key", b"r" * 32),
    "base_key": _set("base_key", b"\x05" + b"b" * 32),
    "base_key_type": _set("base_key_type", 2),
    "closed": _set("closed", 1_900_000_000_000),
    "used": _set("used", 1_900_000_000_123),
    "created": _set("created", 5),
    "remote_identity_key": _set("remote_identity_key", b"\x05" + b"i" * 32),
    "pending_pre_key": _set("pending_pre_key", PendingPreKey(3, b"\x05" + b"q" * 32, 9)),
    "chains replaced": _set("chains", {}),
    "chain added": _add_chain,
    "chain moved to another key": _move_chain,
    "chain counter": _chain_change(lambda c: setattr(c, "counter", c.counter + 70)),
    "chain key": _chain_change(lambda c: setattr(c, "key", b"z" * 32)),
    "chain closed": _chain_change(lambda c: setattr(c, "key", None)),
    "chain type": _chain_change(lambda c: setattr(c, "chain_type", 3 - c.chain_type)),
    "chain message key added": _chain_change(lambda c: c.message_keys.update({99: b"s" * 32})),
    "chain message key added and dropped": _chain_change(_add_and_drop_message_key),
}


@pytest.mark.parametrize("name", list(_CHANGES))
@pytest.mark.parametrize("side", [0, 1])
def test_a_changed_record_is_written_as_the_generic_one(name: str, side: int) -> None:
    data = _conversation()[side]
    stored = SessionRecord.deserialize(data)
    assert type(_first(stored)) is stored_form.StoredState
    plain = SessionRecord({s.base_key: s for s in native._decode_generic(data)})
    assert type(_first(plain)) is SessionState
    _CHANGES[name](stored)
    _CHANGES[name](plain)
    assert stored == plain
    assert stored.serialize() == plain.serialize()
    assert stored.to_libsignal_json() == plain.to_libsignal_json()


def test_used_and_created_read_back_after_a_field_change() -> None:
    data = _conversation()[1]
    plain = _first(SessionRecord({s.base_key: s for s in native._decode_generic(data)}))
    state = _first(SessionRecord.deserialize(data))
    state.root_key = b"r" * 32  # no longer stored: used and created come along
    assert type(state) is SessionState
    assert (state.used, state.created) == (plain.used, plain.created)
    copy = _first(SessionRecord.deserialize(data)).copy()
    assert type(copy) is SessionState
    assert (copy.used, copy.created) == (plain.used, plain.created)


def _one_session(data: bytes) -> bytes:
    """The session body of a one-session record."""
    assert data[:3] == b"\x08\x01\x12"
    n, size = (data[3], 1) if data[3] < 0x80 else ((data[3] & 0x7F) | data[4] << 7, 2)
    assert len(data) == 3 + size + n
    return data[3 + size :]


def _record_of(body: bytes) -> bytes:
    return b"\x08\x01\x12" + native._varint(len(body)) + body


@pytest.mark.parametrize("where", ["closed", "chain counter"])
def test_padded_varints_take_the_generic_path(where: str) -> None:
    data = _conversation()[0]
    body = _one_session(data)
    header = stored_form._HEADER.match(body)
    assert header is not None
    if where == "closed":
        start, end = header.span(10)
    else:
        first = header.end()  # the first chain: tag, one-byte length, body
        chain = stored_form._CHAIN.match(body, first)
        assert chain is not None
        start, end = chain.span(5)
        body = body[: first + 1] + bytes((body[first + 1] + 1,)) + body[first + 2 :]
    value = body[start:end]
    # The same number with a trailing zero group: valid protobuf, but not canonical.
    padded = value[:-1] + bytes((value[-1] | 0x80, 0))
    damaged = _record_of(body[:start] + padded + body[end:])
    assert stored_form.decode_stored(damaged) is None
    record = SessionRecord.deserialize(damaged)
    assert record == SessionRecord.deserialize(data)
    assert record.serialize() == data
