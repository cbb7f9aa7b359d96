"""Sender-key records: both serializations are lossless and refuse damaged input."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.errors import InvalidRecordError
from wamd.signal.sender_key_record import (
    MAX_STATES,
    SenderKeyRecord,
    SenderKeyState,
)

u32 = st.integers(min_value=0, max_value=0xFFFFFFFF)
seed32 = st.binary(min_size=32, max_size=32)


@st.composite
def states(draw: st.DrawFn) -> SenderKeyState:
    keys = draw(st.dictionaries(u32, seed32, max_size=6))
    return SenderKeyState(
        draw(u32),
        draw(u32),
        draw(st.binary(max_size=40)),
        draw(st.sampled_from([32, 33]).flatmap(lambda n: st.binary(min_size=n, max_size=n))),
        signing_private=draw(st.one_of(st.none(), st.just(b""), seed32)),
        message_keys=keys,
    )


records = st.lists(states(), max_size=MAX_STATES).map(SenderKeyRecord)


def own_record() -> SenderKeyRecord:
    record = SenderKeyRecord()
    record.set_own_state(7, 3, os.urandom(32), b"\x05" + os.urandom(32), os.urandom(32))
    return record


@settings(max_examples=150)
@given(records)
def test_native_round_trip_is_identity(record: SenderKeyRecord) -> None:
    data = record.serialize()
    assert SenderKeyRecord.deserialize(data) == record
    assert SenderKeyRecord.deserialize(data).serialize() == data


@settings(max_examples=150)
@given(records)
def test_baileys_json_round_trip_is_identity(record: SenderKeyRecord) -> None:
    obj = record.to_baileys_json()
    text = json.dumps(obj, separators=(",", ":"))
    again = SenderKeyRecord.from_baileys_json(json.loads(text))
    assert again == record
    assert json.dumps(again.to_baileys_json(), separators=(",", ":")) == text
    # and across formats: JSON -> native -> JSON
    assert SenderKeyRecord.deserialize(again.serialize()).to_baileys_json() == obj


def test_skipped_key_order_survives_both_forms() -> None:
    record = own_record()
    state = record.states[0]
    state.message_keys = {9: b"\x01" * 32, 2: b"\x02" * 32, 5: b"\x03" * 32}
    for again in (
        SenderKeyRecord.deserialize(record.serialize()),
        SenderKeyRecord.from_baileys_bytes(record.to_baileys_bytes()),
    ):
        assert list(again.states[0].message_keys) == [9, 2, 5]


def test_baileys_json_shape_matches_what_baileys_stringifies() -> None:
    record = SenderKeyRecord()
    record.add_state(12, 0, bytes(range(32)), b"\x05" + bytes(32))
    text = record.to_baileys_bytes().decode()
    assert text.startswith(
        '[{"senderKeyId":12,"senderChainKey":{"iteration":0,"seed":{"type":"Buffer","data":[0,1,2,'
    )
    assert '"senderSigningKey":{"public":{"type":"Buffer","data":[5,0,' in text
    assert text.endswith('"private":{"type":"Buffer","data":[]}},"senderMessageKeys":[]}]')


def test_absent_and_empty_private_key_are_kept_apart() -> None:
    record = SenderKeyRecord()
    record.add_state(1, 0, bytes(32), b"\x05" + bytes(32))
    obj = record.to_baileys_json()
    del obj[0]["senderSigningKey"]["private"]
    absent = SenderKeyRecord.from_baileys_json(obj)
    assert absent.states[0].signing_private is None
    assert (
        "private"
        not in SenderKeyRecord.deserialize(absent.serialize()).to_baileys_json()[0][
            "senderSigningKey"
        ]
    )
    assert record.states[0].signing_private == b""


def test_reader_accepts_base64_buffers() -> None:
    record = own_record()
    record.states[0].message_keys = {4: os.urandom(32)}
    obj = record.to_baileys_json()

    def to_b64(value: object) -> object:
        if isinstance(value, dict):
            if value.get("type") == "Buffer":
                import base64

                return {"type": "Buffer", "data": base64.b64encode(bytes(value["data"])).decode()}
            return {k: to_b64(v) for k, v in value.items()}
        if isinstance(value, list):
            return [to_b64(v) for v in value]
        return value

    assert SenderKeyRecord.from_baileys_json(to_b64(obj)) == record  # type: ignore[arg-type]


def test_add_state_keeps_a_known_key_and_replaces_a_changed_one() -> None:
    record = SenderKeyRecord()
    pub_a, pub_b = b"\x05" + b"a" * 32, b"\x05" + b"b" * 32
    assert record.add_state(1, 0, b"c" * 32, pub_a)
    record.states[0].iteration = 10  # the chain moved on
    assert not record.add_state(1, 0, b"c" * 32, pub_a)
    assert record.states[0].iteration == 10
    assert record.add_state(1, 0, b"d" * 32, pub_b)
    assert len(record.states) == 1
    assert record.states[0].signing_public == pub_b


def test_record_keeps_at_most_five_states_dropping_the_oldest() -> None:
    record = SenderKeyRecord()
    for key_id in range(8):
        record.add_state(key_id, 0, bytes(32), b"\x05" + bytes([key_id]) * 32)
    assert [s.key_id for s in record.states] == [3, 4, 5, 6, 7]
    assert record.newest_state() is record.states[-1]
    assert record.state_for(2) is None
    assert record.state_for(5) is record.states[2]


def test_copy_is_independent() -> None:
    record = own_record()
    clone = record.copy()
    clone.states[0].message_keys[1] = bytes(32)
    clone.states[0].iteration += 1
    assert record != clone
    assert not record.states[0].message_keys


def test_repr_hides_key_material() -> None:
    record = own_record()
    text = repr(record)
    state = record.states[0]
    assert state.chain_key.hex() not in text
    assert state.signing_private is not None
    assert state.signing_private.hex() not in text


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b"SK\x02\x00",
        b"SK\x01",
        b"SK\x01\x01\x00\x00",
        SenderKeyRecord().serialize() + b"\x00",
    ],
)
def test_damaged_native_bytes_raise(data: bytes) -> None:
    with pytest.raises(InvalidRecordError):
        SenderKeyRecord.deserialize(data)


def test_every_truncation_of_a_native_record_raises() -> None:
    record = own_record()
    record.states[0].message_keys = {1: bytes(32), 2: bytes(32)}
    data = record.serialize()
    for cut in range(len(data)):
        with pytest.raises(InvalidRecordError):
            SenderKeyRecord.deserialize(data[:cut])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: {"not": "a list"},
        lambda o: [1],
        lambda o: [{**o[0], "senderChainKey": None}],
        lambda o: [{**o[0], "senderKeyId": -1}],
        lambda o: [{**o[0], "senderKeyId": True}],
        lambda o: [{**o[0], "senderKeyId": 2**32}],
        lambda o: [{**o[0], "senderSigningKey": {"public": {"type": "Buffer", "data": [256]}}}],
        lambda o: [{**o[0], "senderSigningKey": {"public": {"type": "Buffer", "data": "!!"}}}],
        lambda o: [{**o[0], "senderSigningKey": {"public": {"type": "Nope", "data": []}}}],
        lambda o: [{**o[0], "senderMessageKeys": {}}],
        lambda o: [
            {
                **o[0],
                "senderMessageKeys": [{"iteration": 1, "seed": {"type": "Buffer", "data": [1]}}],
            }
        ],
    ],
)
def test_damaged_baileys_json_raises(mutate: object) -> None:
    obj = own_record().to_baileys_json()
    with pytest.raises(InvalidRecordError):
        SenderKeyRecord.from_baileys_json(mutate(obj))  # type: ignore[operator]


def test_baileys_bytes_that_are_not_json_raise() -> None:
    with pytest.raises(InvalidRecordError):
        SenderKeyRecord.from_baileys_bytes(b"\xff[")
    with pytest.raises(InvalidRecordError):
        SenderKeyRecord.from_baileys_bytes(b"[{")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**33) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_native_parser_raises_only_record_errors_on_random_bytes(data: bytes) -> None:
    try:
        record = SenderKeyRecord.deserialize(b"SK\x01" + data)
    except InvalidRecordError:
        pass
    else:  # whatever parses is written back byte for byte
        assert record.serialize() == b"SK\x01" + data


@settings(max_examples=300)
@given(json_values)
def test_json_reader_raises_only_record_errors_on_random_json(obj: object) -> None:
    for candidate in (obj, [obj]):
        try:
            record = SenderKeyRecord.from_baileys_json(candidate)  # type: ignore[arg-type]
        except InvalidRecordError:
            pass
        else:
            assert SenderKeyRecord.from_baileys_json(record.to_baileys_json()) == record
