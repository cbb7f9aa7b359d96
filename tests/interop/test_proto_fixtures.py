"""Protobuf values that real Baileys wrote into its auth files, read with our classes.

Baileys stores some protobuf messages (``creds.account``, ``app-state-sync-key``) as
protobufjs ``toJSON()`` objects: bytes as base64 strings, 64-bit integers as decimal
strings, enums by name. Our field names are WhatsApp's, so protobuf's own JSON mapping
reads and writes exactly that form; the bytes we then encode must be Baileys' bytes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from tests.conftest import Oracle
from wamd._proto import decode_proto
from wamd._proto.adv_pb2 import ADVDeviceIdentity, ADVSignedDeviceIdentity
from wamd._proto.message_pb2 import Message

pytestmark = pytest.mark.interop

SAMPLE = "baileys-auth-sample"


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_paired_account_reads_and_encodes_like_baileys(
    oracle: Oracle, shared_fixtures: Path
) -> None:
    creds = _load(shared_fixtures / SAMPLE / "after-qr-pairing-and-login" / "creds.json")
    account_json = creds["account"]
    account = json_format.ParseDict(account_json, ADVSignedDeviceIdentity())
    assert len(account.accountSignatureKey) == 32
    assert len(account.accountSignature) == 64
    assert len(account.deviceSignature) == 64
    assert json_format.MessageToDict(account) == account_json
    theirs = oracle.call("proto_encode", type="ADVSignedDeviceIdentity", object=account_json)
    assert account.SerializeToString() == theirs
    assert decode_proto(ADVSignedDeviceIdentity, theirs, "creds.account") == account

    details = decode_proto(ADVDeviceIdentity, account.details, "creds.account.details")
    baileys_details = oracle.call("proto_decode", type="ADVDeviceIdentity", data=account.details)
    assert details.timestamp > 1_600_000_000
    assert {
        "rawId": details.rawId,
        "timestamp": str(details.timestamp),
        "keyIndex": details.keyIndex,
    } == {k: baileys_details[k] for k in ("rawId", "timestamp", "keyIndex")}
    assert set(baileys_details) == {f.name for f, _ in details.ListFields()}


def test_app_state_sync_key_reads_and_encodes_like_baileys(
    oracle: Oracle, shared_fixtures: Path
) -> None:
    path = shared_fixtures / SAMPLE / "two-party-session" / "A" / "app-state-sync-key-AAAAAAbc.json"
    key_json = _load(path)
    key = json_format.ParseDict(key_json, Message.AppStateSyncKeyData())
    assert key.keyData == base64.b64decode(key_json["keyData"])
    assert len(key.keyData) == 32
    assert key.timestamp == int(key_json["timestamp"])
    assert list(key.fingerprint.deviceIndexes) == key_json["fingerprint"]["deviceIndexes"]
    assert json_format.MessageToDict(key) == key_json
    theirs = oracle.call("proto_encode", type="Message.AppStateSyncKeyData", object=key_json)
    assert key.SerializeToString() == theirs
