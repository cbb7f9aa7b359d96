"""Jid: parse and print every kind, properties, conversions, and refusals."""

from __future__ import annotations

import pytest

from wamd.binary import Jid
from wamd.errors import JidError, WamdError

KINDS = [
    ("15551234567@s.whatsapp.net", "15551234567", "s.whatsapp.net", 0, "is_pn_user"),
    ("15551234567:12@s.whatsapp.net", "15551234567", "s.whatsapp.net", 12, "is_pn_user"),
    ("123456789012345@lid", "123456789012345", "lid", 0, "is_lid"),
    ("123456789012345:3@lid", "123456789012345", "lid", 3, "is_lid"),
    ("120363021234567890@g.us", "120363021234567890", "g.us", 0, "is_group"),
    ("15551234567-1600000000@g.us", "15551234567-1600000000", "g.us", 0, "is_group"),
    ("status@broadcast", "status", "broadcast", 0, "is_status_broadcast"),
    ("1600000000@broadcast", "1600000000", "broadcast", 0, "is_broadcast"),
    ("120363000000000000@newsletter", "120363000000000000", "newsletter", 0, "is_newsletter"),
    ("@s.whatsapp.net", "", "s.whatsapp.net", 0, "is_server"),
    ("1555:99@hosted", "1555", "hosted", 99, "is_hosted"),
    ("1555:99@hosted.lid", "1555", "hosted.lid", 99, "is_hosted"),
    ("13135550002@bot", "13135550002", "bot", 0, "is_bot"),
    ("15551234567@c.us", "15551234567", "c.us", 0, "is_pn_user"),
    ("7-5:1@interop", "5", "interop", 1, "is_interop"),
    ("abc:2@msgr", "abc", "msgr", 2, "is_user"),
]


@pytest.mark.parametrize(("text", "user", "server", "device", "prop"), KINDS)
def test_parse_and_print_every_kind(
    text: str, user: str, server: str, device: int, prop: str
) -> None:
    jid = Jid.parse(text)
    assert (jid.user, jid.server, jid.device) == (user, server, device)
    assert str(jid) == text
    if prop != "is_user":
        assert getattr(jid, prop) is True


def test_agent_form_and_domain_type() -> None:
    jid = Jid.parse("1555_1:2@s.whatsapp.net")
    assert (jid.user, jid.agent, jid.device) == ("1555", 1, 2)
    assert str(jid) == "1555_1:2@s.whatsapp.net"
    assert jid.domain_type == 1 and jid.is_ad
    assert Jid.parse("1:1@lid").domain_type == 1
    assert Jid.parse("1:1@hosted").domain_type == 128
    assert Jid.parse("1:1@hosted.lid").domain_type == 129
    assert Jid.parse("1@s.whatsapp.net").domain_type == 0


def test_device_zero_is_the_primary_and_not_printed() -> None:
    jid = Jid.parse("1555:0@s.whatsapp.net")
    assert jid.device == 0 and not jid.is_ad
    assert str(jid) == "1555@s.whatsapp.net"


def test_to_non_ad_and_with_device() -> None:
    assert str(Jid.parse("1555_1:7@s.whatsapp.net").to_non_ad()) == "1555@s.whatsapp.net"
    assert str(Jid.parse("1555@c.us").to_non_ad()) == "1555@s.whatsapp.net"
    assert str(Jid.parse("9:4@lid").to_non_ad()) == "9@lid"
    assert str(Jid.parse("9@lid").with_device(5)) == "9:5@lid"
    assert Jid.parse("1555:7@s.whatsapp.net").to_non_ad() == Jid("1555", "s.whatsapp.net")


def test_bare_known_server_parses_as_server_jid() -> None:
    assert Jid.parse("s.whatsapp.net") == Jid("", "s.whatsapp.net")
    assert Jid.parse("g.us").is_server


def test_kind_properties_are_exclusive_where_they_should_be() -> None:
    group = Jid.parse("1@g.us")
    assert not group.is_user and not group.is_lid and not group.is_broadcast
    assert not Jid.parse("1@broadcast").is_status_broadcast
    assert Jid.parse("1@lid").is_user and Jid.parse("1:2@hosted").is_user


@pytest.mark.parametrize(
    "text",
    [
        "plainstring",
        "a@b@c",
        "1555@",
        "1555:x@s.whatsapp.net",
        "1555:-1@s.whatsapp.net",
        "1555:99999999@s.whatsapp.net",
        "1555_a@s.whatsapp.net",
        "15 55@s.whatsapp.net",
        "1555@bad server",
        "x-5:1@interop".replace("x", "a"),
        "",
    ],
)
def test_bad_jids_raise_jid_error(text: str) -> None:
    with pytest.raises(JidError):
        Jid.parse(text)


def test_non_string_raises_jid_error_which_is_a_wamd_error() -> None:
    with pytest.raises(WamdError):
        Jid.parse(123)  # type: ignore[arg-type]
    with pytest.raises(JidError):
        Jid("1", "g.us", integrator=5)
