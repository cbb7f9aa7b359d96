"""Every file of the Baileys-written fixture folders loads, and writes back byte-identical."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_FIXTURES
from wamd.auth import baileys_json
from wamd.auth.baileys_creds import creds_from_bytes, creds_to_bytes
from wamd.auth.baileys_keys import (
    file_name,
    id_from_file_name,
    value_from_baileys,
    value_to_baileys,
)
from wamd.crypto import prefixed, verify
from wamd.signal.session_record import SessionRecord
from wamd.signal.store import KeyCategory

SAMPLE = "baileys-auth-sample"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in (root / SAMPLE).rglob("*.json"))


def test_fixture_folders_cover_every_file_kind(shared_fixtures: Path) -> None:
    categories = {
        id_from_file_name(p.name)[0]  # type: ignore[index]
        for p in _files(shared_fixtures)
        if p.name != "creds.json"
    }
    assert categories == {
        "pre-key",
        "session",
        "identity-key",
        "app-state-sync-key",
        "app-state-sync-version",
        "sender-key-memory",
        "lid-mapping",
        "device-list",
    }


def test_every_creds_json_reads_and_writes_back_byte_identical(shared_fixtures: Path) -> None:
    paths = [p for p in _files(shared_fixtures) if p.name == "creds.json"]
    assert len(paths) == 4
    for path in paths:
        data = path.read_bytes()
        creds = creds_from_bytes(data, str(path))
        spk = creds.signed_pre_key
        assert verify(
            creds.signed_identity_key.public, prefixed(spk.key_pair.public), spk.signature
        )
        assert creds_to_bytes(creds) == data, path


def test_paired_creds_have_the_account_fields(shared_fixtures: Path) -> None:
    path = shared_fixtures / SAMPLE / "after-qr-pairing-and-login" / "creds.json"
    creds = creds_from_bytes(path.read_bytes())
    assert creds.me is not None
    assert (creds.me.id, creds.me.lid, creds.me.name) == (
        "15550001111:7@s.whatsapp.net",
        "99887766:7@lid",
        None,
    )
    assert creds.platform == "smbi"
    assert creds.account is not None and len(creds.account) > 160
    assert creds.signal_identities is not None
    assert creds.signal_identities[0].name == "99887766:7@lid"
    assert len(creds.signal_identities[0].identifier_key) == 33
    assert creds.next_pre_key_id == 6


def test_paired_creds_from_native_form_write_the_same_creds_json(shared_fixtures: Path) -> None:
    path = shared_fixtures / SAMPLE / "after-qr-pairing-and-login" / "creds.json"
    creds = creds_from_bytes(path.read_bytes())
    from wamd.auth.creds import AuthCreds

    assert creds_to_bytes(AuthCreds.from_bytes(creds.to_bytes())) == path.read_bytes()


@pytest.mark.parametrize(
    "relative",
    [
        str(p)
        for p in [
            "after-qr-pairing-and-login/pre-key-1.json",
            "after-qr-pairing-and-login/lid-mapping-15550001111.json",
            "after-qr-pairing-and-login/lid-mapping-99887766_reverse.json",
            "after-qr-pairing-and-login/device-list-15550001111.json",
            "two-party-session/A/session-2222222222.3.json",
            "two-party-session/A/app-state-sync-key-AAAAAAbc.json",
            "two-party-session/A/app-state-sync-version-regular_high.json",
            "two-party-session/A/sender-key-memory-123-456@g.us.json",
            "two-party-session/B/identity-key-1111111111.0.json",
            "two-party-session/B/session-1111111111.0.json",
        ]
    ],
)
def test_key_file_converts_to_native_and_back_byte_identical(
    shared_fixtures: Path, relative: str
) -> None:
    path = shared_fixtures / SAMPLE / relative
    found = id_from_file_name(path.name)
    assert found is not None
    category, key_id = found
    assert file_name(category, key_id) == path.name
    data = path.read_bytes()
    native = value_from_baileys(category, baileys_json.loads(data, path.name), path.name)
    assert baileys_json.dumps(value_to_baileys(category, native, path.name)) == data


def test_native_values_have_the_documented_form(shared_fixtures: Path) -> None:
    a = shared_fixtures / SAMPLE / "two-party-session" / "A"
    b = shared_fixtures / SAMPLE / "two-party-session" / "B"

    def native(path: Path) -> bytes:
        category, _ = id_from_file_name(path.name)  # type: ignore[misc]
        return value_from_baileys(category, baileys_json.loads(path.read_bytes(), "x"), "x")

    pre_key = native(b / "pre-key-2.json")
    assert len(pre_key) == 64
    identity = native(b / "identity-key-1111111111.0.json")
    assert identity[0] == 5 and len(identity) == 33
    # B's stored identity for A is A's identity key from A's creds.
    a_creds = creds_from_bytes((a / "creds.json").read_bytes())
    assert identity == prefixed(a_creds.signed_identity_key.public)
    record = SessionRecord.deserialize(native(a / "session-2222222222.3.json"))
    assert record.open_session() is not None
    assert (
        native(a / "sender-key-memory-123-456@g.us.json") == b'{"2222222222:3@s.whatsapp.net":true}'
    )


@pytest.mark.parametrize(
    ("category", "key_id", "name"),
    [
        ("pre-key", "1", "pre-key-1.json"),
        ("session", "987654321_1.12", "session-987654321_1.12.json"),
        (
            "sender-key",
            "120363000000000000@g.us::987654321_1::5",
            "sender-key-120363000000000000@g.us--987654321_1--5.json",
        ),
        (
            "sender-key",
            "15551234567-1600000000@g.us::15551234567::0",
            "sender-key-15551234567-1600000000@g.us--15551234567--0.json",
        ),
        ("sender-key-memory", "123-456@g.us", "sender-key-memory-123-456@g.us.json"),
        ("app-state-sync-key", "AAA/BBB+c=", "app-state-sync-key-AAA__BBB+c=.json"),
        ("app-state-sync-version", "regular_high", "app-state-sync-version-regular_high.json"),
        ("lid-mapping", "987654321_reverse", "lid-mapping-987654321_reverse.json"),
        ("device-list", "15551234567", "device-list-15551234567.json"),
        ("identity-key", "987654321_1.0", "identity-key-987654321_1.0.json"),
        ("tctoken", "__index", "tctoken-__index.json"),
        ("tctoken", "15551234567@s.whatsapp.net", "tctoken-15551234567@s.whatsapp.net.json"),
        ("tctoken", "15551234567:3@s.whatsapp.net", "tctoken-15551234567-3@s.whatsapp.net.json"),
    ],
)
def test_file_names_follow_baileys_and_map_back_to_ids(
    category: str, key_id: str, name: str
) -> None:
    assert file_name(category, key_id) == name
    assert id_from_file_name(name) == (category, key_id)


@pytest.mark.parametrize(
    "name", ["creds.json", "notes.txt", "pre-key-.json", "foo-1.json", "session.json"]
)
def test_other_file_names_are_not_key_files(name: str) -> None:
    assert id_from_file_name(name) is None


def sample_values() -> dict[str, dict[str, bytes]]:
    """One or two native values of every key category (also used by other test modules)."""
    import os

    from wamd._proto.message_pb2 import Message
    from wamd.signal.sender_key_record import SenderKeyRecord

    sender = SenderKeyRecord()
    sender.set_own_state(7, 3, os.urandom(32), b"\x05" + os.urandom(32), os.urandom(32))
    sender.add_state(9, 0, os.urandom(32), b"\x05" + os.urandom(32))
    app_key = Message.AppStateSyncKeyData(keyData=os.urandom(32), timestamp=1700000000123)
    app_key.fingerprint.rawId = 5
    app_key.fingerprint.deviceIndexes.extend([0, 3])
    session_path = SHARED_FIXTURES / SAMPLE
    session_json = baileys_json.loads(
        (session_path / "two-party-session" / "A" / "session-2222222222.3.json").read_bytes(), "s"
    )
    return {
        "pre-key": {"1": os.urandom(64), "17": os.urandom(64)},
        "session": {"987654321_1.3": SessionRecord.from_libsignal_json(session_json).serialize()},
        "sender-key": {"120363000000000000@g.us::987654321_1::5": sender.serialize()},
        "sender-key-memory": {"120363000000000000@g.us": b'{"987654321:5@lid":true}'},
        "app-state-sync-key": {"AAA/BBB+c=": app_key.SerializeToString()},
        "app-state-sync-version": {
            "regular_low": baileys_json.dumps(
                {
                    "version": 3,
                    "hash": os.urandom(128),
                    "indexValueMap": {"aGk=": {"valueMac": b"m"}},
                }
            )
        },
        "lid-mapping": {"15551234567": b"987654321", "987654321_reverse": b"15551234567"},
        "device-list": {"15551234567": b'["0","7"]'},
        "tctoken": {
            "15551234567@s.whatsapp.net": baileys_json.dumps(
                {"token": os.urandom(20), "timestamp": "1700000000"}
            ),
            "__index": baileys_json.dumps({"token": b'["15551234567@s.whatsapp.net"]'}),
        },
        "identity-key": {"987654321_1.0": b"\x05" + os.urandom(32)},
    }


def test_every_category_converts_to_baileys_json_and_back_without_loss() -> None:
    values = sample_values()
    assert set(values) == {c.value for c in KeyCategory}
    for category, items in values.items():
        for key_id, value in items.items():
            name = file_name(category, key_id)
            data = baileys_json.dumps(value_to_baileys(category, value, name))
            back = value_from_baileys(category, baileys_json.loads(data, name), name)
            assert back == value, name
            assert id_from_file_name(name) == (category, key_id)


@pytest.mark.parametrize(
    ("category", "text", "problem"),
    [
        ("pre-key", b'{"private":{"type":"Buffer","data":"AAAA"},"public":null}', "32 bytes"),
        ("pre-key", b"[1,2]", "JSON object"),
        ("identity-key", b'{"type":"Buffer","data":"BQ=="}', "33 bytes"),
        ("identity-key", b'"BQ=="', "must be a Buffer"),
        ("lid-mapping", b"12", "JSON string"),
        ("device-list", b'[1,"2"]', "array of strings"),
        ("session", b'{"_sessions":{"BQ==":{"registrationId":1}},"version":"v1"}', "session"),
        ("session", b'{"_sessions":{},"version":"v9"}', "unknown version"),
        ("sender-key", b'{"type":"Buffer","data":"e30="}', "sender-key record"),
        ("app-state-sync-key", b'{"keyData":"AAAA","timestamp":"x"}', "app-state-sync-key"),
        ("app-state-sync-version", b'{"version":1}', "Buffer hash"),
    ],
)
def test_bad_key_files_raise_corrupt_store_error_naming_the_file(
    category: str, text: bytes, problem: str
) -> None:
    from wamd.errors import CorruptStoreError

    name = f"{category}-x.json"
    with pytest.raises(CorruptStoreError, match=name) as info:
        value_from_baileys(category, baileys_json.loads(text, name), name)
    assert problem in str(info.value)
