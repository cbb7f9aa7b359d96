"""SessionRecord: libsignal-node JSON and native forms, both lossless."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd._proto import signal_records_pb2
from wamd.errors import InvalidRecordError, SignalError
from wamd.signal.session_record import (
    CHAIN_RECEIVING,
    CHAIN_SENDING,
    Chain,
    PendingPreKey,
    SessionRecord,
    SessionState,
)

TWO_PARTY = Path("two-party-session")
FIXTURE_FILES = ["A/session-2222222222.3.json", "B/session-1111111111.0.json"]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_baileys_session_file_round_trips_byte_for_byte(shared_fixtures: Path, name: str) -> None:
    path = shared_fixtures / "baileys-auth-sample" / TWO_PARTY / name
    text = path.read_text()
    record = SessionRecord.from_libsignal_json(json.loads(text))
    assert _dumps(record.to_libsignal_json()) == text
    again = SessionRecord.deserialize(record.serialize())
    assert again == record
    assert _dumps(again.to_libsignal_json()) == text


def test_baileys_session_file_fields_are_read(shared_fixtures: Path) -> None:
    path = shared_fixtures / "baileys-auth-sample" / TWO_PARTY / FIXTURE_FILES[0]
    record = SessionRecord.from_libsignal_json(json.loads(path.read_text()))
    state = record.open_session()
    assert state is not None
    assert state.registration_id == 93
    assert len(state.remote_identity_key) == 33
    assert [c.chain_type for c in state.chains.values()] == [CHAIN_RECEIVING, CHAIN_SENDING]
    assert state.pending_pre_key is None


def test_native_form_is_smaller_than_json(shared_fixtures: Path) -> None:
    path = shared_fixtures / "baileys-auth-sample" / TWO_PARTY / FIXTURE_FILES[0]
    text = path.read_text()
    record = SessionRecord.from_libsignal_json(json.loads(text))
    assert len(record.serialize()) < len(text) * 0.6


_bytes33 = st.binary(min_size=33, max_size=33)
_bytes32 = st.binary(min_size=32, max_size=32)
_ts = st.integers(min_value=0, max_value=2**45)


@st.composite
def _chains(draw: st.DrawFn) -> dict[bytes, Chain]:
    keys = draw(st.lists(_bytes33, max_size=4, unique=True))
    out = {}
    for k in keys:
        counter = draw(st.integers(min_value=-1, max_value=3000))
        closed = draw(st.booleans())
        mk = draw(st.dictionaries(st.integers(0, 3000), _bytes32, max_size=4))
        out[k] = Chain(
            draw(st.sampled_from([1, 2])), counter, None if closed else draw(_bytes32), mk
        )
    return out


@st.composite
def _states(draw: st.DrawFn) -> SessionState:
    pending = None
    if draw(st.booleans()):
        pending = PendingPreKey(
            draw(st.integers(0, 2**24)),
            draw(_bytes33),
            draw(st.none() | st.integers(0, 2**24)),
        )
    return SessionState(
        registration_id=draw(st.integers(0, 16383)),
        ephemeral_public=draw(_bytes33),
        ephemeral_private=draw(_bytes32),
        last_remote_ephemeral=draw(_bytes33),
        previous_counter=draw(st.integers(-1, 5000)),
        root_key=draw(_bytes32),
        base_key=draw(_bytes33),
        base_key_type=draw(st.sampled_from([1, 2])),
        closed=draw(st.just(-1) | _ts),
        used=draw(_ts),
        created=draw(_ts),
        remote_identity_key=draw(_bytes33),
        chains=draw(_chains()),
        pending_pre_key=pending,
    )


@st.composite
def _records(draw: st.DrawFn) -> SessionRecord:
    record = SessionRecord()
    for state in draw(st.lists(_states(), max_size=3)):
        record.put(state)
    return record


@settings(max_examples=60, deadline=None)
@given(_records())
def test_any_record_round_trips_through_both_forms(record: SessionRecord) -> None:
    native = record.serialize()
    assert SessionRecord.deserialize(native) == record
    as_json = json.loads(_dumps(record.to_libsignal_json()))
    from_json = SessionRecord.from_libsignal_json(as_json)
    assert from_json == record
    assert from_json.serialize() == native
    assert _dumps(SessionRecord.deserialize(native).to_libsignal_json()) == _dumps(as_json)


@settings(max_examples=60, deadline=None)
@given(_records())
def test_native_writer_matches_the_generated_protobuf_class(record: SessionRecord) -> None:
    data = record.serialize()
    parsed = signal_records_pb2.RecordStructure.FromString(data)
    assert parsed.SerializeToString() == data
    assert parsed.formatVersion == 1 and len(parsed.sessions) == len(record.sessions)


def test_message_keys_are_written_in_numeric_order_like_javascript() -> None:
    chain = Chain(CHAIN_RECEIVING, 12, b"k" * 32, {10: b"a" * 32, 9: b"b" * 32, 2: b"c" * 32})
    state = SessionState(
        1, b"\x05" + b"e" * 32, b"p" * 32, b"\x05" + b"r" * 32, 0, b"r" * 32,
        b"\x05" + b"b" * 32, 1, -1, 5, 5, b"\x05" + b"i" * 32, {b"\x05" + b"c" * 32: chain},
    )  # fmt: skip
    out = SessionRecord({state.base_key: state}).to_libsignal_json()
    (entry,) = out["_sessions"].values()
    (c,) = entry["_chains"].values()
    assert list(c["messageKeys"]) == ["2", "9", "10"]


def test_closed_chain_has_no_key_in_json() -> None:
    chain = Chain(CHAIN_RECEIVING, 3, None, {})
    state = SessionState(
        1, b"\x05" + b"e" * 32, b"p" * 32, b"\x05" + b"r" * 32, 0, b"r" * 32,
        b"\x05" + b"b" * 32, 1, -1, 5, 5, b"\x05" + b"i" * 32, {b"\x05" + b"c" * 32: chain},
    )  # fmt: skip
    (entry,) = SessionRecord({state.base_key: state}).to_libsignal_json()["_sessions"].values()
    (c,) = entry["_chains"].values()
    assert c["chainKey"] == {"counter": 3}


@pytest.mark.parametrize(
    "data",
    [b"\xff\xff\xff", b"\x08\x02", b"\x08\x01\x12\x02\x08\x01", b"\x12"],
    ids=["garbage", "wrong-version", "session-missing-fields", "truncated"],
)
def test_bad_native_bytes_raise_invalid_record_error(data: bytes) -> None:
    with pytest.raises(InvalidRecordError):
        SessionRecord.deserialize(data)
    assert issubclass(InvalidRecordError, SignalError)


@pytest.mark.parametrize(
    "obj",
    [
        {"_sessions": {}, "version": "v9"},
        {"_sessions": [], "version": "v1"},
        {"_sessions": {"AAAA": {"registrationId": 1}}, "version": "v1"},
        {"_sessions": {"AAAA": "x"}, "version": "v1"},
    ],
    ids=["unknown-version", "sessions-not-object", "entry-missing-fields", "entry-not-object"],
)
def test_bad_libsignal_json_raises_invalid_record_error(obj: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecordError):
        SessionRecord.from_libsignal_json(obj)


def test_legacy_record_without_version_takes_the_top_level_registration_id(
    shared_fixtures: Path,
) -> None:
    path = shared_fixtures / "baileys-auth-sample" / TWO_PARTY / FIXTURE_FILES[0]
    obj = json.loads(path.read_text())
    for entry in obj["_sessions"].values():
        del entry["registrationId"]
    del obj["version"]
    obj["registrationId"] = 77
    record = SessionRecord.from_libsignal_json(obj)
    state = record.open_session()
    assert state is not None and state.registration_id == 77
