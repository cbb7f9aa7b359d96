"""Signal addresses from JIDs, and sender-key names."""

from __future__ import annotations

import pytest

from wamd.errors import JidError
from wamd.signal.address import ProtocolAddress, SenderKeyName

CASES = [
    ("15551234567@s.whatsapp.net", "15551234567.0"),
    ("15551234567:12@s.whatsapp.net", "15551234567.12"),
    ("15551234567:0@s.whatsapp.net", "15551234567.0"),
    ("987654321@lid", "987654321_1.0"),
    ("987654321:3@lid", "987654321_1.3"),
    ("5551:99@hosted", "5551_128.99"),
    ("5551:99@hosted.lid", "5551_129.99"),
    ("5551:4@hosted.lid", "5551_129.4"),
    ("15551234567@c.us", "15551234567.0"),
]


@pytest.mark.parametrize(("jid", "address"), CASES)
def test_address_of_jid(jid: str, address: str) -> None:
    addr = ProtocolAddress.from_jid(jid)
    assert str(addr) == address
    assert ProtocolAddress.parse(address) == addr


@pytest.mark.parametrize(
    ("address", "jid"),
    [
        ("15551234567.0", "15551234567@s.whatsapp.net"),
        ("15551234567.12", "15551234567:12@s.whatsapp.net"),
        ("987654321_1.3", "987654321:3@lid"),
        ("5551_128.99", "5551:99@hosted"),
        ("5551_129.99", "5551:99@hosted.lid"),
    ],
)
def test_jid_of_address(address: str, jid: str) -> None:
    assert ProtocolAddress.parse(address).to_jid() == jid


def test_with_user_moves_a_device_between_pn_and_lid_spaces() -> None:
    pn = ProtocolAddress.from_jid("15551234567:12@s.whatsapp.net")
    lid = pn.with_user("987654321", lid=True)
    assert str(lid) == "987654321_1.12"
    assert lid.is_lid and not pn.is_lid
    assert lid.with_user("15551234567", lid=False) == pn
    hosted = ProtocolAddress.from_jid("5551:99@hosted")
    assert str(hosted.with_user("777", lid=True)) == "777_129.99"


@pytest.mark.parametrize(
    "jid",
    [
        "no-at-sign",
        "@s.whatsapp.net",
        "123@",
        "123:x@s.whatsapp.net",
        "123:1:2@s.whatsapp.net",
        "123:99@s.whatsapp.net",
        "123:99@lid",
        "123:70000@lid",
        "123_x@s.whatsapp.net",
        "123:-1@lid",
    ],
)
def test_bad_jids_are_refused(jid: str) -> None:
    with pytest.raises(JidError):
        ProtocolAddress.from_jid(jid)


@pytest.mark.parametrize("text", ["nodevice", "name.x", ".3", "a.b.c"])
def test_bad_address_strings_are_refused(text: str) -> None:
    with pytest.raises(JidError):
        ProtocolAddress.parse(text)


def test_sender_key_name() -> None:
    name = SenderKeyName.from_jids("120363000000000000@g.us", "987654321:5@lid")
    assert str(name) == "120363000000000000@g.us::987654321_1::5"
    assert str(SenderKeyName.from_jids("1@g.us", "15551234567@s.whatsapp.net")) == (
        "1@g.us::15551234567::0"
    )
    with pytest.raises(JidError):
        SenderKeyName.from_jids("nogroup", "1@lid")
