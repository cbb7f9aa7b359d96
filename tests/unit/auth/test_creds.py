"""AuthCreds: fresh creds, the native form, and what repr may show."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from wamd.auth.creds import AuthCreds, Contact, SignalIdentity, init_auth_creds
from wamd.crypto import prefixed, verify
from wamd.errors import CorruptStoreError, StoreSchemaError


def _paired() -> AuthCreds:
    creds = init_auth_creds()
    creds.me = Contact("15550001111:7@s.whatsapp.net", lid="99887766:7@lid", name="Bot")
    creds.account = b"\x0a\x02hi\x12\x20" + bytes(32)
    creds.signal_identities = [SignalIdentity("99887766:7@lid", 0, b"\x05" + bytes(range(32)))]
    creds.platform = "smbi"
    creds.routing_info = b"\x01\x02\x03"
    creds.processed_history_messages = [{"key": {"id": "X"}, "messageTimestamp": 17}]
    creds.additional_data = {"blob": b"\x00\xff", "n": 1}
    creds.last_account_sync_timestamp = 1700000000
    creds.extra = {"futureField": [1, "two"]}
    return creds


def test_init_auth_creds_signs_the_signed_pre_key_with_the_identity_key() -> None:
    creds = init_auth_creds()
    spk = creds.signed_pre_key
    assert spk.key_id == 1
    assert verify(creds.signed_identity_key.public, prefixed(spk.key_pair.public), spk.signature)
    assert 1 <= creds.registration_id <= 16380
    assert len(creds.adv_secret_key) == 44
    assert creds.next_pre_key_id == 1 and creds.first_unuploaded_pre_key_id == 1
    assert creds.account_settings == {"unarchiveChats": False}
    assert creds.me is None and not creds.registered


def test_init_auth_creds_makes_distinct_keys_each_time() -> None:
    a, b = init_auth_creds(), init_auth_creds()
    assert a.noise_key != b.noise_key
    assert a.signed_identity_key != b.signed_identity_key
    assert a.adv_secret_key != b.adv_secret_key


@pytest.mark.parametrize("make", [init_auth_creds, _paired])
def test_native_form_round_trips(make: Callable[[], AuthCreds]) -> None:
    creds = make()
    data = creds.to_bytes()
    back = AuthCreds.from_bytes(data)
    assert back == creds
    assert back.to_bytes() == data


def test_native_form_is_versioned_compact_json() -> None:
    obj = json.loads(init_auth_creds().to_bytes())
    assert obj["format"] == "wamd.creds"
    assert obj["version"] == 1


def test_repr_hides_private_keys_and_secrets() -> None:
    creds = _paired()
    text = repr(creds)
    secrets = [
        creds.noise_key.private,
        creds.pairing_ephemeral_key_pair.private,
        creds.signed_identity_key.private,
        creds.signed_pre_key.key_pair.private,
    ]
    for secret in secrets:
        assert secret.hex() not in text
        assert secret.hex()[:16] not in text
    assert creds.adv_secret_key not in text
    assert "15550001111:7@s.whatsapp.net" in text


def test_account_id_is_the_user_part_of_me() -> None:
    assert _paired().account_id == "15550001111"
    assert init_auth_creds().account_id is None


def _native(creds: AuthCreds) -> dict[str, Any]:
    obj = json.loads(creds.to_bytes())
    assert isinstance(obj, dict)
    return obj


def test_newer_native_version_is_a_schema_error() -> None:
    obj = _native(init_auth_creds())
    obj["version"] = 99
    with pytest.raises(StoreSchemaError, match="version 99"):
        AuthCreds.from_bytes(json.dumps(obj).encode(), "db:creds")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.pop("noise_key"), "noise_key is missing"),
        (lambda o: o["noise_key"].update(public="AAAA"), "noise_key.public must be 32 bytes"),
        (lambda o: o["signed_pre_key"].update(signature="AAAA"), "signature must be 64 bytes"),
        (lambda o: o.update(registration_id="7"), "registration_id must be int"),
        (lambda o: o.update(registered=1), "registered must be bool"),
        (lambda o: o["noise_key"].update(private="!!not base64!!"), "noise_key.private"),
        (lambda o: o.update(format="other"), "not a wamd creds record"),
        (lambda o: o.update(signal_identities=[5]), "signal_identities[0] must be an object"),
        (
            lambda o: o.update(signal_identities=[{"name": "a", "device_id": 0}]),
            "field signal_identities[0].identifier_key is missing",
        ),
    ],
)
def test_bad_native_records_name_the_field(mutate: Callable[[Any], None], message: str) -> None:
    obj = _native(init_auth_creds())
    mutate(obj)
    with pytest.raises(CorruptStoreError, match="db:creds") as info:
        AuthCreds.from_bytes(json.dumps(obj).encode(), "db:creds")
    assert message in str(info.value)


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe", b"[]", b"null"])
def test_garbage_native_bytes_are_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptStoreError, match="here"):
        AuthCreds.from_bytes(data, "here")
