"""Arbitrary bytes into every pairwise parser and decrypt: a SignalError, nothing else."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.signal.party import PyParty
from wamd.errors import SignalError
from wamd.signal.session_cipher import decrypt_message
from wamd.signal.session_record import SessionRecord
from wamd.signal.wire import PreKeyMessage, parse_signal_message

_ALICE, _BOB = PyParty(), PyParty()
_ALICE.inject("bob.0", _BOB.bundle())
_BOB.decrypt("alice.0", *_ALICE.encrypt("bob.0", b"hi"))
_ALICE.decrypt("bob.0", *_BOB.encrypt("alice.0", b"hello"))
_GOOD_MSG = _ALICE.encrypt("bob.0", b"sample")[1]
_BOB_RECORD = _BOB.sessions["alice.0"]


def _mutations() -> st.SearchStrategy[bytes]:
    """Random bytes, and the good message with bytes flipped, cut or inserted."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(_GOOD_MSG)
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "cut", "insert"]))
            pos = draw(st.integers(0, max(0, len(data) - 1)))
            if op == "flip" and data:
                data[pos] ^= 1 << draw(st.integers(0, 7))
            elif op == "cut":
                del data[pos : pos + draw(st.integers(1, 8))]
            else:
                data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        return bytes(data)

    return st.binary(max_size=200) | mutate()


@settings(max_examples=300, deadline=None)
@given(_mutations())
def test_damaged_messages_raise_signal_errors_and_leave_the_record(data: bytes) -> None:
    record = SessionRecord.deserialize(_BOB_RECORD)
    try:
        decrypt_message(record, _BOB.identity, data, now_ms=1)
    except SignalError:
        assert record.serialize() == _BOB_RECORD
    else:
        assert data == _GOOD_MSG  # only the genuine message may decrypt


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_parsers_raise_only_signal_errors(data: bytes) -> None:
    for parse in (parse_signal_message, PreKeyMessage.parse, SessionRecord.deserialize):
        try:
            result = parse(data)
        except SignalError:
            continue
        assert result is not None


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_damaged_libsignal_json_raises_only_signal_errors(data: st.DataObject) -> None:
    obj = json.loads(json.dumps(SessionRecord.deserialize(_BOB_RECORD).to_libsignal_json()))
    (entry,) = obj["_sessions"].values()
    section = data.draw(st.sampled_from(["currentRatchet", "indexInfo", "_chains"]))
    if data.draw(st.booleans()):
        entry[section] = data.draw(_json_values)
    else:
        target = entry[section]
        if isinstance(target, dict) and target:
            key = data.draw(st.sampled_from(sorted(target)))
            target[key] = data.draw(_json_values)
    try:
        record = SessionRecord.from_libsignal_json(obj)
    except SignalError:
        return
    # Whatever loads is a well-formed record: it survives the native form unchanged.
    assert SessionRecord.deserialize(record.serialize()) == record
