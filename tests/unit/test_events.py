"""Events: the disconnect-reason table, stream-error/failure codes, and secret-free reprs."""

from __future__ import annotations

import dataclasses

import pytest

from wamd.events import (
    Authenticated,
    AuthFailure,
    Connected,
    CredsUpdate,
    Disconnected,
    DisconnectReason,
    Event,
    LoggedOut,
    Message,
    PairingCode,
    QRCode,
    Receipt,
    RemoteSessionSaved,
    classify_disconnect,
    failure_status,
    stream_error_status,
)

R = DisconnectReason

TABLE = [
    (515, R.RESTART_REQUIRED, True),
    (503, R.UNAVAILABLE, True),
    (500, R.BAD_SESSION, True),
    (408, R.TIMED_OUT, True),
    (428, R.CONNECTION_CLOSED, True),
    (401, R.LOGGED_OUT, False),
    (440, R.CONNECTION_REPLACED, False),
    (402, R.BANNED, False),
    (405, R.CLIENT_OUTDATED, False),
    (403, R.FORBIDDEN, False),
    (411, R.MULTIDEVICE_MISMATCH, False),
]


@pytest.mark.parametrize(("code", "reason", "reconnect"), TABLE)
def test_every_known_code_maps_to_its_reason_and_decision(
    code: int, reason: DisconnectReason, reconnect: bool
) -> None:
    assert classify_disconnect(code) == (reason, reconnect)
    assert reason.status_code == code
    assert reason.reconnects is reconnect


def test_table_covers_every_named_reason() -> None:
    assert {reason for _, reason, _ in TABLE} == set(R) - {R.UNKNOWN}
    assert R.UNKNOWN.status_code is None and R.UNKNOWN.reconnects is False


@pytest.mark.parametrize(
    ("code", "reconnect"), [(502, True), (599, True), (406, False), (409, False), (200, False)]
)
def test_unknown_codes_reconnect_only_for_server_errors(code: int, reconnect: bool) -> None:
    assert classify_disconnect(code) == (R.UNKNOWN, reconnect)


@pytest.mark.parametrize(
    ("code", "child", "status"),
    [
        ("515", None, 515),
        ("401", "conflict", 401),  # a code wins over the child
        (None, "conflict", 440),
        (None, "xml-not-well-formed", 500),
        (None, None, 500),
        ("abc", None, 500),
        ("", "conflict", 440),
    ],
)
def test_stream_error_status(code: str | None, child: str | None, status: int) -> None:
    assert stream_error_status(code, child) == status


@pytest.mark.parametrize(
    ("reason", "status"), [("401", 401), ("403", 403), (None, 500), ("x", 500), ("٤٠١", 500)]
)
def test_failure_status(reason: str | None, status: int) -> None:
    assert failure_status(reason) == status


def test_creds_update_repr_shows_changed_names_only() -> None:
    secret = bytes(range(32))
    creds = {"noiseKey": secret, "advSecretKey": "c2VjcmV0LWFkdi1rZXk="}
    event = CredsUpdate(frozenset({"me", "account"}), creds)
    text = repr(event)
    assert "me" in text and "account" in text
    assert secret.hex() not in text and repr(secret) not in text
    assert "c2VjcmV0LWFkdi1rZXk=" not in text and "noiseKey" not in text
    assert event.creds is creds


def test_qr_and_pairing_code_reprs_hide_their_secrets() -> None:
    qr = "https://wa.me/settings/linked_devices#2@r,AAAA,BBBB,ADVSECRETB64=,1"
    text = repr(QRCode(qr, attempt=2, expires_in=20.0))
    assert "ADVSECRETB64" not in text and "attempt=2" in text and "expires_in=20.0" in text
    assert "ABCD2345" not in repr(PairingCode("ABCD2345"))
    assert PairingCode("ABCD2345").code == "ABCD2345"


def test_events_are_frozen_slotted_event_subclasses() -> None:
    samples: list[Event] = [
        QRCode("q", 1, 60.0),
        PairingCode("ABCDEFGH"),
        Authenticated("1555:1@s.whatsapp.net", "android", lid="1:1@lid"),
        AuthFailure("hmac-mismatch"),
        Connected(),
        Disconnected(R.TIMED_OUT, 408, will_reconnect=True),
        LoggedOut(R.LOGGED_OUT, 401),
        CredsUpdate(frozenset(), object()),
        Message("ID1", "1555@s.whatsapp.net", "1555@s.whatsapp.net", 1, text="hi"),
        Receipt("1555@s.whatsapp.net", "1555@s.whatsapp.net", ("ID1",), "read", 1),
        RemoteSessionSaved("main", "postgres"),
    ]
    for event in samples:
        assert isinstance(event, Event)
        assert not hasattr(event, "__dict__")
        fields = dataclasses.fields(event)  # type: ignore[arg-type]
        if fields:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(event, fields[0].name, None)
