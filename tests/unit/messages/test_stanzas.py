"""Message ids, acks, receipts, usync and key-fetch stanzas (shapes of fake-server.md §7.2–§7.6)."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.unit.messages.accounts import Account
from wamd.binary import Node, decode_node, encode_node
from wamd.crypto import KeyPair
from wamd.errors import PreKeyFetchError, StanzaError, UsageError
from wamd.messages import (
    DeviceInfo,
    RetryKeys,
    TagGenerator,
    UserDevices,
    build_ack,
    build_device_query,
    build_key_fetch,
    build_receipt,
    build_retry_receipt,
    device_jids,
    device_list_records,
    generate_message_id,
    lid_mappings,
    parse_device_reply,
    parse_key_fetch_reply,
    parse_receipt,
    parse_retry_receipt,
)
from wamd.messages.retry import RetryCounter, take_pre_key
from wamd.signal.keys import PreKey

# --- ids ---------------------------------------------------------------------------------


def test_message_id_is_prefix_and_18_hex_of_the_hash() -> None:
    rand = bytes(range(16))
    got = generate_message_id("15550001111:3@s.whatsapp.net", now_s=1_700_000_000, random=rand)
    area = b"15550001111@c.us".ljust(20, b"\0")
    want = hashlib.sha256((1_700_000_000).to_bytes(8, "big") + area + rand).hexdigest()
    assert got == "3EB0" + want[:18].upper()
    assert len(got) == 22
    assert generate_message_id(None, now_s=1, random=rand) != generate_message_id(
        "1@s.whatsapp.net", now_s=1, random=rand
    )
    assert generate_message_id(None, now_s=1) != generate_message_id(None, now_s=1)
    with pytest.raises(UsageError):
        generate_message_id(None, now_s=1, random=b"short")


def test_tag_generator_counts_up_from_a_random_prefix() -> None:
    tags = TagGenerator(bytes([0xF2, 0x53, 0xBF, 0xCC]))
    assert tags.prefix == "62035.49100-"
    assert [tags(), tags(), tags()] == ["62035.49100-1", "62035.49100-2", "62035.49100-3"]


# --- acks --------------------------------------------------------------------------------


def test_ack_needs_id_and_from() -> None:
    with pytest.raises(StanzaError):
        build_ack(Node("receipt", {"from": "x@s.whatsapp.net"}))
    with pytest.raises(StanzaError):
        build_ack(Node("receipt", {"id": "1"}))


# --- receipts ----------------------------------------------------------------------------


def test_receipt_forms() -> None:
    peer = "15550001111:1@s.whatsapp.net"
    assert build_receipt(peer, ["A"]).attrs == {"id": "A", "to": peer}
    read = build_receipt(peer, ["A", "B", "C"], type="read", t=17)
    assert read.attrs == {"id": "A", "t": "17", "to": peer, "type": "read"}
    assert read.content == [
        Node("list", {}, [Node("item", {"id": "B"}), Node("item", {"id": "C"})])
    ]
    group = build_receipt("1@g.us", ["A"], participant="2:1@lid", type="inactive")
    assert group.attrs == {"id": "A", "to": "1@g.us", "participant": "2:1@lid", "type": "inactive"}
    sender = build_receipt("2@s.whatsapp.net", ["A"], participant=peer, type="sender")
    assert sender.attrs == {
        "id": "A",
        "recipient": "2@s.whatsapp.net",
        "to": peer,
        "type": "sender",
    }
    with pytest.raises(UsageError):
        build_receipt(peer, [])
    with pytest.raises(UsageError):
        build_receipt(peer, ["A"], type="read")


def test_parse_receipt_reads_every_id() -> None:
    node = Node(
        "receipt",
        {"from": "1@g.us", "participant": "2:1@lid", "id": "A", "t": "9", "type": "read"},
        [Node("list", {}, [Node("item", {"id": "B"})])],
    )
    r = parse_receipt(node)
    assert (r.chat, r.sender, r.ids, r.type, r.timestamp) == (
        "1@g.us",
        "2:1@lid",
        ("A", "B"),
        "read",
        9,
    )
    assert parse_receipt(Node("receipt", {"from": "3@lid", "id": "Z"})).type == "delivery"


async def test_retry_receipt_with_keys_round_trips_through_the_codec() -> None:
    bob = Account("15550002222", 1)
    pair = KeyPair.generate()
    spk = bob.creds.signed_pre_key
    keys = RetryKeys(
        identity=bob.creds.signed_identity_key.public,
        pre_key=PreKey(0x010203, pair),
        signed_pre_key_id=spk.key_id,
        signed_pre_key_public=spk.key_pair.public,
        signed_pre_key_signature=spk.signature,
        device_identity=bob.creds.account or b"",
    )
    message = Node("message", {"id": "M1", "from": "1@g.us", "participant": "5:2@lid", "t": "77"})
    receipt = build_retry_receipt(message, count=3, registration_id=0x1234, keys=keys)
    assert receipt.attrs == {"id": "M1", "type": "retry", "to": "1@g.us", "participant": "5:2@lid"}
    keys_node = receipt.get_child("keys")
    assert keys_node is not None
    assert [c.tag for c in keys_node.children()] == [
        "type",
        "identity",
        "key",
        "skey",
        "device-identity",
    ]
    assert keys_node.get_child("key").get_child("id").content == b"\x01\x02\x03"  # type: ignore[union-attr]
    # As the original sender gets it: from = the asking device.
    wire = decode_node(
        encode_node(Node("receipt", {**receipt.attrs, "from": "5:2@lid"}, receipt.content))
    )
    request = parse_retry_receipt(wire)
    assert (request.id, request.count, request.registration_id) == ("M1", 3, 0x1234)
    assert request.bundle is not None
    assert request.bundle.pre_key_id == 0x010203
    assert request.bundle.pre_key_public == pair.prefixed_public
    request.bundle.verify()
    no_keys = build_retry_receipt(message, count=1, registration_id=7)
    parsed = parse_retry_receipt(
        Node("receipt", {**no_keys.attrs, "from": "5:2@lid"}, no_keys.content)
    )
    assert parsed.bundle is None and parsed.registration_id == 7
    with pytest.raises(StanzaError, match="retry receipt id='R9' has no <retry> child"):
        parse_retry_receipt(Node("receipt", {"type": "retry", "id": "R9", "from": "x@lid"}))
    with pytest.raises(StanzaError, match="retry receipt id='R9' has no 'from' attribute"):
        parse_retry_receipt(Node("receipt", {"type": "retry", "id": "R9"}, [Node("retry", {})]))


# --- usync -------------------------------------------------------------------------------

ME = "15550001111:1@s.whatsapp.net"


def _reply(*users: Node, kind: str = "result") -> Node:
    return Node(
        "iq",
        {"from": "@s.whatsapp.net", "type": kind, "id": "t-9"},
        [Node("usync", {"sid": "t-8"}, [Node("result", {}), Node("list", {}, list(users))])],
    )


def _user(jid: str, devices: list[dict[str, str]], lid: str | None) -> Node:
    return Node(
        "user",
        {"jid": jid},
        [
            Node(
                "devices",
                {},
                [
                    Node("device-list", {}, [Node("device", d) for d in devices]),
                    Node("key-index-list", {"ts": "1795440144"}, b""),
                ],
            ),
            Node("lid", {} if lid is None else {"val": lid}),
        ],
    )


def test_device_query_shape() -> None:
    q = build_device_query(
        ["15550002222:3@s.whatsapp.net", "15550002222@s.whatsapp.net", "1000@lid"], sid="t-8"
    )
    assert q.attrs == {"to": "@s.whatsapp.net", "type": "get", "xmlns": "usync"}
    usync = q.get_child("usync")
    assert usync is not None and usync.attrs == {
        "context": "message",
        "mode": "query",
        "sid": "t-8",
        "last": "true",
        "index": "0",
    }
    query, listed = usync.children()
    assert query.content == [Node("devices", {"version": "2"}), Node("lid", {})]
    assert [u.attrs["jid"] for u in listed.children()] == ["15550002222@s.whatsapp.net", "1000@lid"]
    with pytest.raises(UsageError):
        build_device_query([], sid="x")


def test_device_reply_keeps_device_zero_and_indexed_devices_but_not_ourselves() -> None:
    reply = _reply(
        _user(
            "15550002222@s.whatsapp.net",
            [
                {"id": "0"},
                {"id": "1", "key-index": "1"},
                {"id": "2"},
                {"id": "3", "key-index": "0"},
            ],
            "100015550002222@lid",
        ),
        _user(
            "15550001111@s.whatsapp.net",
            [{"id": "0"}, {"id": "1", "key-index": "3"}, {"id": "4", "key-index": "4"}],
            "100015550001111@lid",
        ),
        _user(
            "100015550003333@lid",
            [{"id": "0"}, {"id": "99", "key-index": "2", "is_hosted": "true"}],
            None,
        ),
        Node(
            "user",
            {"jid": "15550004444@s.whatsapp.net"},
            [Node("devices", {}, [Node("device-list", {})]), Node("lid", {})],
        ),
    )
    users = parse_device_reply(decode_node(encode_node(reply)))
    assert users[0] == UserDevices(
        "15550002222@s.whatsapp.net",
        (DeviceInfo(0, None), DeviceInfo(1, 1), DeviceInfo(2, None), DeviceInfo(3, 0)),
        "100015550002222@lid",
    )
    assert users[3].devices == () and users[3].lid is None
    jids = device_jids(users, ME, "100015550001111@lid")
    assert jids == [
        "15550002222@s.whatsapp.net",
        "15550002222:1@s.whatsapp.net",
        "15550001111@s.whatsapp.net",
        "15550001111:4@s.whatsapp.net",
        "100015550003333@lid",
        "100015550003333:99@hosted.lid",
    ]
    assert lid_mappings(users) == [
        ("100015550002222@lid", "15550002222@s.whatsapp.net"),
        ("100015550001111@lid", "15550001111@s.whatsapp.net"),
    ]
    records = device_list_records(users, jids)
    assert json.loads(records["15550002222"]) == ["0", "1"]
    assert json.loads(records["15550001111"]) == ["0", "4"]


def test_device_reply_errors() -> None:
    with pytest.raises(StanzaError):
        parse_device_reply(_reply(kind="error"))
    with pytest.raises(StanzaError):
        parse_device_reply(Node("iq", {"type": "result"}))
    with pytest.raises(StanzaError):
        parse_device_reply(_reply(_user("1@s.whatsapp.net", [{"id": "x"}], None)))


# --- pre-key fetch ---------------------------------------------------------------------------


def test_key_fetch_shape() -> None:
    iq = build_key_fetch(["1:1@lid", "1:1@lid", "2@lid"], identity_refresh=True, iq_id="t-11")
    assert iq.attrs == {"xmlns": "encrypt", "type": "get", "to": "@s.whatsapp.net", "id": "t-11"}
    assert iq.content == [
        Node(
            "key",
            {},
            [
                Node("user", {"jid": "1:1@lid", "reason": "identity"}),
                Node("user", {"jid": "2@lid", "reason": "identity"}),
            ],
        )
    ]
    assert build_key_fetch(["1@lid"]).get_child("key").content[0].attrs == {"jid": "1@lid"}  # type: ignore[index,union-attr]


async def _bundle_user(acc: Account, jid: str, *, one_time: bool = True) -> Node:
    b = await acc.bundle(one_time=one_time)
    children = [
        Node("registration", {}, b.registration_id.to_bytes(4, "big")),
        Node("type", {}, b"\x05"),
        Node("identity", {}, b.identity_key[1:]),
        Node(
            "skey",
            {},
            [
                Node("id", {}, b.signed_pre_key_id.to_bytes(3, "big")),
                Node("value", {}, b.signed_pre_key_public[1:]),
                Node("signature", {}, b.signed_pre_key_signature),
            ],
        ),
    ]
    if b.pre_key_id is not None and b.pre_key_public is not None:
        children.append(
            Node(
                "key",
                {},
                [
                    Node("id", {}, b.pre_key_id.to_bytes(3, "big")),
                    Node("value", {}, b.pre_key_public[1:]),
                ],
            )
        )
    return Node("user", {"jid": jid}, children)


async def test_key_fetch_reply_gives_working_bundles() -> None:
    alice, bob, carol = (
        Account("15550001111", 1),
        Account("15550002222", 1),
        Account("15550003333", 0),
    )
    reply = Node(
        "iq",
        {"from": "@s.whatsapp.net", "type": "result", "id": "t-11"},
        [
            Node(
                "list",
                {},
                [
                    await _bundle_user(bob, bob.lid),
                    await _bundle_user(carol, carol.lid, one_time=False),
                ],
            )
        ],
    )
    bundles = parse_key_fetch_reply(decode_node(encode_node(reply)))
    assert list(bundles) == [bob.lid, carol.lid]
    assert bundles[bob.lid].identity_key == bob.creds.signed_identity_key.prefixed_public
    assert bundles[carol.lid].pre_key_id is None
    for b in bundles.values():
        b.verify()
        await alice.repo.inject_session(bob.lid if b is bundles[bob.lid] else carol.lid, b)
    assert await alice.repo.has_session(bob.lid) and await alice.repo.has_session(carol.lid)


async def test_key_fetch_reply_errors() -> None:
    bob = Account("15550002222", 1)
    err = Node("user", {"jid": "9@lid"}, [Node("error", {"code": "404", "text": "item-not-found"})])
    reply = Node(
        "iq", {"type": "result"}, [Node("list", {}, [await _bundle_user(bob, bob.lid), err])]
    )
    with pytest.raises(PreKeyFetchError) as info:
        parse_key_fetch_reply(reply)
    assert (info.value.jid, info.value.code, info.value.text) == ("9@lid", "404", "item-not-found")
    with pytest.raises(PreKeyFetchError):
        parse_key_fetch_reply(Node("iq", {"type": "error"}, [Node("error", {"code": "500"})]))
    user = await _bundle_user(bob, bob.lid)
    user.content = [c for c in user.children() if c.tag != "skey"]
    with pytest.raises(StanzaError):
        parse_key_fetch_reply(Node("iq", {"type": "result"}, [Node("list", {}, [user])]))
    nameless = await _bundle_user(bob, bob.lid)
    named = await _bundle_user(bob, bob.lid)
    del nameless.attrs["jid"]
    with pytest.raises(StanzaError, match="<user> number 2 has no jid"):
        parse_key_fetch_reply(Node("iq", {"type": "result"}, [Node("list", {}, [named, nameless])]))
    short = await _bundle_user(bob, bob.lid)
    short.children()[2].content = b"\x01" * 31
    with pytest.raises(StanzaError):
        parse_key_fetch_reply(Node("iq", {"type": "result"}, [Node("list", {}, [short])]))


# --- pre-keys handed out in retry receipts --------------------------------------------------


async def test_take_pre_key_uses_unuploaded_keys_first_then_makes_new_ones() -> None:
    acc = Account("15550002222", 1)
    creds = acc.creds
    # Keys 1 and 2 were made but never uploaded.
    for key_id in (1, 2):
        pair = KeyPair.generate()
        await acc.store.set({"pre-key": {str(key_id): pair.private + pair.public}})
    creds.next_pre_key_id, creds.first_unuploaded_pre_key_id = 3, 1
    key, changed = await take_pre_key(creds, acc.store)
    assert key.key_id == 1 and changed == {"first_unuploaded_pre_key_id"}
    assert (creds.next_pre_key_id, creds.first_unuploaded_pre_key_id) == (3, 2)
    stored = (await acc.store.get("pre-key", ["1"]))["1"]
    assert stored == key.key_pair.private + key.key_pair.public
    assert (await take_pre_key(creds, acc.store))[0].key_id == 2
    fresh, changed = await take_pre_key(creds, acc.store)
    assert fresh.key_id == 3 and changed == {"next_pre_key_id", "first_unuploaded_pre_key_id"}
    assert (creds.next_pre_key_id, creds.first_unuploaded_pre_key_id) == (4, 4)
    assert "3" in await acc.store.get("pre-key", ["3"])

    counter = RetryCounter(limit=2)
    assert [counter.next("a", None) for _ in range(6)] == [1, 2, 3, 4, 5, None]
    counter.next("b", None)
    counter.next("c", None)  # the oldest entry ("a") is forgotten
    assert counter.next("a", None) == 1
