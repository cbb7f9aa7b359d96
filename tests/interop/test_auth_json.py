"""wamd's BufferJSON and creds.json output, checked against Baileys' own parse/stringify."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Oracle
from wamd.auth import baileys_json
from wamd.auth.baileys_creds import creds_from_bytes, creds_to_bytes
from wamd.auth.creds import Contact, SignalIdentity, init_auth_creds

pytestmark = pytest.mark.interop

_keys = st.one_of(
    st.text(max_size=6),
    st.integers(0, 3000).map(str),
    st.sampled_from(["0", "01", "-1", "4294967294", "4294967295", "1e3", " 7", "__proto_"]),
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.binary(max_size=40)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=15,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_values, min_size=1, max_size=10))
def test_wamd_reads_and_writes_json_exactly_as_baileys(oracle: Oracle, values: list[Any]) -> None:
    texts = [baileys_json.to_json_text(v) for v in values]
    # Baileys reading our text and writing it back gives what wamd gives doing the same
    # (values Baileys cannot hold, e.g. {"0": 5} which it takes for a Buffer, included).
    ours = [baileys_json.to_json_text(baileys_json.loads(t, "t")) for t in texts]
    assert oracle.call("auth_buffer_json_resave", texts=texts) == ours
    # And what wamd writes is a fixed point for Baileys once read back.
    assert oracle.call("auth_buffer_json_resave", texts=ours) == ours


@pytest.mark.parametrize(
    "text",
    [
        '{"0":5,"1":7}',
        '{"1":7,"0":5}',
        '{"a":{"0":1,"2":3,"1":2}}',
        '{"type":"Buffer","data":[1,2,255]}',
        '{"type":"Buffer","data":"AAH/"}',
        '{"type":"Buffer","data":"AAH_-w"}',
        '{"b":1,"10":2,"2":3}',
        '["\\u2028\\ud800x\\/\\u0001"]',
        '{"n":1.50,"m":-0,"e":1E400,"s":1e-7,"big":123456789012345678901234}',
        '{"0":true}',
        '{"0":1,"x":2}',
        "{}",
    ],
)
def test_wamd_reads_and_rewrites_tricky_json_as_baileys_does(oracle: Oracle, text: str) -> None:
    (theirs,) = oracle.call("auth_buffer_json_resave", texts=[text])
    if "1E400" in text:
        # JSON.parse gives Infinity, written back as null; Python keeps the float inf.
        assert theirs is not None and '"e":null' in theirs
        return
    assert baileys_json.to_json_text(baileys_json.loads(text, "t")) == theirs


def test_creds_with_every_field_are_written_as_baileys_writes_them(oracle: Oracle) -> None:
    creds = init_auth_creds()
    creds.me = Contact("15550001111:7@s.whatsapp.net", lid="99887766:7@lid", name="Bot ✓")
    creds.account = bytes.fromhex("0a03010203120420212223")
    creds.signal_identities = [SignalIdentity("99887766:7@lid", 0, b"\x05" + bytes(32))]
    creds.platform = "android"
    creds.my_app_state_key_id = "AAAAAQ/x"
    creds.last_account_sync_timestamp = 1700000000
    creds.processed_history_messages = [
        {
            "key": {"remoteJid": "x@s.whatsapp.net", "fromMe": True, "id": "ABC"},
            "messageTimestamp": 1,
        }
    ]
    creds.account_sync_counter = 3
    creds.account_settings = {
        "unarchiveChats": True,
        "defaultDisappearingMode": {"ephemeralExpiration": 86400},
    }
    creds.registered = True
    creds.pairing_code = "ABCD1234"
    creds.last_prop_hash = "h4sh"
    creds.routing_info = b"\x08\x01\x08\x02"
    creds.additional_data = {"blob": b"\x00\x01", "list": [1, "a"]}
    creds.extra = {"someNewField": {"nested": [True]}}
    data = creds_to_bytes(creds)
    (theirs,) = oracle.call("auth_buffer_json_resave", texts=[data.decode()])
    assert theirs.encode() == data
    assert creds_from_bytes(data) == creds
