"""creds.json details: legacy Buffer forms, key order, unknown fields, the account record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wamd.auth import baileys_json
from wamd.auth.baileys_creds import creds_from_bytes, creds_from_json, creds_to_bytes
from wamd.auth.creds import init_auth_creds
from wamd.errors import CorruptStoreError


def _baileys_obj() -> dict[str, Any]:
    obj = json.loads(creds_to_bytes(init_auth_creds()))
    assert isinstance(obj, dict)
    return obj


def test_legacy_and_int_array_buffers_load_as_bytes() -> None:
    creds = init_auth_creds()
    obj = _baileys_obj()
    noise = creds_from_bytes(json.dumps(obj).encode()).noise_key
    raw_private = list(noise.private)
    obj["noiseKey"]["private"] = {str(i): b for i, b in enumerate(raw_private)}
    obj["noiseKey"]["public"] = {"type": "Buffer", "data": list(noise.public)}
    loaded = creds_from_bytes(json.dumps(obj).encode())
    assert loaded.noise_key == noise
    # Written back the way Baileys' replacer writes any Buffer.
    assert b'"noiseKey":{"private":{"type":"Buffer","data":"' in creds_to_bytes(loaded)
    assert creds.noise_key != loaded.noise_key  # a different fresh identity, sanity


def test_me_keeps_unknown_contact_fields_and_their_order() -> None:
    obj = _baileys_obj()
    obj["me"] = {
        "id": "1@s.whatsapp.net",
        "notify": "N",
        "lid": "2@lid",
        "name": "X",
        "imgUrl": None,
    }
    data = baileys_json.dumps(obj)
    creds = creds_from_bytes(data)
    assert creds.me is not None
    assert (creds.me.id, creds.me.lid, creds.me.name) == ("1@s.whatsapp.net", "2@lid", "X")
    assert creds.me.extra == {"notify": "N", "imgUrl": None}
    assert creds_to_bytes(creds) == data


def test_new_fields_are_added_in_the_order_baileys_adds_them() -> None:
    creds = init_auth_creds()
    creds.pairing_code = "ABCD1234"
    creds.platform = "android"
    creds.last_prop_hash = "x"
    keys = list(json.loads(creds_to_bytes(creds)))
    assert keys[-4:] == ["registered", "pairingCode", "lastPropHash", "platform"]


def test_account_reads_base64_strings_and_buffers_alike() -> None:
    obj = _baileys_obj()
    obj["account"] = {"details": "CCo=", "accountSignatureKey": "AAE="}
    a = creds_from_json(baileys_json.loads(json.dumps(obj), "c"))
    obj["account"] = {
        "details": {"type": "Buffer", "data": "CCo="},
        "accountSignatureKey": {"type": "Buffer", "data": "AAE="},
    }
    b = creds_from_json(baileys_json.loads(json.dumps(obj), "c"))
    assert a.account == b.account == bytes.fromhex("0a02082a12020001")
    assert json.loads(creds_to_bytes(a))["account"] == {
        "details": "CCo=",
        "accountSignatureKey": "AAE=",
    }


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda o: o.update(account={"details": "CCo=", "bogus": 1}), "unknown fields"),
        (lambda o: o.update(account="CCo="), "account must be an object"),
        (lambda o: o.update(me={"name": "x"}), "me.id is missing"),
        (
            lambda o: o.update(signalIdentities=[{"identifier": {"name": "a"}}]),
            "field signalIdentities[0].identifier.deviceId is missing",
        ),
        (
            lambda o: o.update(signalIdentities=[{"identifier": {"name": "a", "deviceId": 0}}]),
            "field signalIdentities[0].identifierKey is missing",
        ),
        (
            lambda o: o.update(signalIdentities=[{"identifier": {}}, "x"]),
            "field signalIdentities[1] must be an object, not str",
        ),
        (lambda o: o.update(signalIdentities={}), "field signalIdentities must be list"),
        (lambda o: o.update(registrationId=1.5), "registrationId must be int"),
        (
            lambda o: o["signedPreKey"].update(signature={"type": "Buffer", "data": "AA=="}),
            "64 bytes",
        ),
        (
            lambda o: o["signedIdentityKey"].update(
                public={"type": "Buffer", "data": "BQ" + "A" * 42}
            ),
            "32 bytes",
        ),
        (lambda o: o.pop("advSecretKey"), "advSecretKey is missing"),
    ],
)
def test_bad_creds_fields_are_named(mutate: Any, problem: str) -> None:
    obj = _baileys_obj()
    mutate(obj)
    with pytest.raises(CorruptStoreError, match="auth/creds") as info:
        creds_from_bytes(json.dumps(obj).encode(), "auth/creds.json")
    assert problem in str(info.value)


def test_fields_baileys_wrote_as_null_are_written_back_as_null() -> None:
    obj = _baileys_obj()
    obj["pairingCode"] = None
    obj["futureThing"] = None
    data = baileys_json.dumps(obj)
    creds = creds_from_bytes(data)
    assert creds.pairing_code is None
    assert creds_to_bytes(creds) == data
