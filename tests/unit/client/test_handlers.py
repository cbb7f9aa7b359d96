"""The handler table and the linked/unlinked decision."""

from __future__ import annotations

import pytest

from wamd.auth import init_auth_creds
from wamd.auth.creds import Contact
from wamd.binary import Node
from wamd.client import handlers, linking, login
from wamd.client.config import ClientConfig
from wamd.errors import UsageError


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (Node("iq", {"type": "set"}, [Node("pair-device")]), linking.on_pair_device),
        (Node("iq", {"type": "set"}, [Node("pair-success")]), linking.on_pair_success),
        (Node("success", {"t": "1"}), login.on_success),
        (
            Node("notification", {"type": "encrypt"}, [Node("count", {"value": "2"})]),
            login.on_encrypt_notification,
        ),
        (
            Node("notification", {"type": "link_code_companion_reg"}),
            linking.on_link_code_notification,
        ),
    ],
)
def test_table_picks_the_most_specific_handler(node: Node, expected: object) -> None:
    assert handlers.find_handler(node) is expected


def test_table_falls_back_by_tag_and_ignores_unknown_tags() -> None:
    generic = handlers.find_handler(Node("notification", {"type": "devices"}))
    assert generic is not None
    assert generic is not login.on_encrypt_notification
    assert handlers.find_handler(Node("stream:error", {"code": "515"})) is not None
    assert handlers.find_handler(Node("mystery")) is None


def test_only_a_finished_link_logs_in() -> None:
    creds = init_auth_creds()
    assert not handlers.is_linked(creds)
    # Baileys sets me when it asks for a pairing code: not linked yet.
    creds.me = Contact(id="15550001111@s.whatsapp.net", name="~")
    assert not handlers.is_linked(creds)
    creds.account = b"signed identity"
    assert handlers.is_linked(creds)


def test_user_and_device_of_own_jid() -> None:
    assert handlers.user_and_device("15550001111:7@s.whatsapp.net") == ("15550001111", 7)
    assert handlers.user_and_device("15550001111@s.whatsapp.net") == ("15550001111", 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"url": "http://x"}, "ws://"),
        ({"server_root_key": b"short"}, "32 bytes"),
        ({"max_qr": 0}, "max_qr"),
        ({"qr_timeout": 0.0}, "qr_timeout"),
        ({"keepalive_interval": 0.0}, "keepalive_interval"),
    ],
)
def test_config_is_validated(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        ClientConfig(**kwargs)  # type: ignore[arg-type]


def test_qr_lifetimes() -> None:
    assert ClientConfig().qr_lifetimes == (60.0, 20.0)
    assert ClientConfig(qr_timeout=5).qr_lifetimes == (5.0, 5.0)
    assert ClientConfig(qr_timeout=(3, 1)).qr_lifetimes == (3.0, 1.0)
