"""MessageSender end to end over a tiny in-test server: usync, key fetch, fan-out, retries."""

from __future__ import annotations

import json

from tests.unit.messages.accounts import Account, deliver
from wamd.binary import Jid, Node, decode_node, encode_node
from wamd.messages import parse_retry_receipt, text_message
from wamd.messages.sender import DEVICE_CACHE_SECONDS, MessageSender

GROUP = "120363000000000001@g.us"


class MiniServer:
    """Answers usync and key-fetch iqs from a set of accounts, through the real codec."""

    def __init__(self, *accounts: Account) -> None:
        self.accounts = list(accounts)
        self.queries: list[str] = []

    def devices_of(self, user: str) -> list[Account]:
        parsed = Jid.parse(user)
        key = "lid" if parsed.is_lid else "pn"
        return [a for a in self.accounts if Jid.parse(getattr(a, key)).user == parsed.user]

    def account(self, device: str) -> Account:
        parsed = Jid.parse(device)
        for acc in self.devices_of(device):
            if Jid.parse(acc.pn).device == parsed.device:
                return acc
        raise LookupError(device)

    async def query(self, iq: Node) -> Node:
        iq = decode_node(encode_node(iq))
        self.queries.append(iq.attrs["xmlns"])
        if iq.attrs["xmlns"] == "usync":
            users = iq.get_child("usync").get_child("list").children("user")  # type: ignore[union-attr]
            out = []
            for user in users:
                jid = user.attrs["jid"]
                devs = self.devices_of(jid)
                device_nodes = [
                    Node("device", {"id": str(d)} | ({"key-index": str(d)} if d else {}))
                    for d in sorted(Jid.parse(a.pn).device for a in devs)
                ]
                lid = devs[0].lid_user if devs else None
                out.append(
                    Node(
                        "user",
                        {"jid": jid},
                        [
                            Node("devices", {}, [Node("device-list", {}, device_nodes)]),
                            Node("lid", {"val": lid} if lid else {}),
                        ],
                    )
                )
            reply = Node(
                "iq",
                {"type": "result", "id": iq.attrs["id"]},
                [Node("usync", {}, [Node("list", {}, out)])],
            )
        else:
            users = iq.get_child("key").children("user")  # type: ignore[union-attr]
            out = []
            for user in users:
                b = await self.account(user.attrs["jid"]).bundle()
                assert b.pre_key_id is not None and b.pre_key_public is not None
                out.append(
                    Node(
                        "user",
                        {"jid": user.attrs["jid"]},
                        [
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
                            Node(
                                "key",
                                {},
                                [
                                    Node("id", {}, b.pre_key_id.to_bytes(3, "big")),
                                    Node("value", {}, b.pre_key_public[1:]),
                                ],
                            ),
                        ],
                    )
                )
            reply = Node("iq", {"type": "result", "id": iq.attrs["id"]}, [Node("list", {}, out)])
        return decode_node(encode_node(reply))


async def test_send_fetches_devices_and_keys_once_and_every_device_decrypts() -> None:
    alice1 = Account("15550001111", 1)
    alice0 = Account("15550001111", 0)
    bob0, bob3 = Account("15550002222", 0), Account("15550002222", 3)
    server = MiniServer(alice0, alice1, bob0, bob3)
    now = [1_795_440_000]
    sender = MessageSender(alice1.repo, alice1.me, server.query, now_s=lambda: now[0])

    out = await sender.send(bob0.pn_user, text_message("hi"))
    assert server.queries == ["usync", "encrypt"]
    assert out.id.startswith("3EB0") and len(out.id) == 22
    assert sorted(out.devices) == sorted([alice0.pn, bob0.pn, bob3.pn])
    for acc in (alice0, bob0, bob3):
        got = await acc.receiver.receive(deliver(out, alice1.pn, acc.pn))
        assert got.message is not None and got.message.text == "hi"
        assert got.message.from_me == (acc is alice0)
    # LID mappings and device lists were stored.
    assert await alice1.repo.lid_for_pn(bob0.pn_user) == bob0.lid_user.split("@")[0]
    stored = await alice1.store.get("device-list", ["15550002222", "15550001111"])
    assert json.loads(stored["15550002222"]) == ["0", "3"]
    assert json.loads(stored["15550001111"]) == ["0"]

    again = await sender.send(bob0.pn_user, text_message("cached"))
    assert server.queries == ["usync", "encrypt"]  # no new query
    assert again.stanza.get_child("device-identity") is not None  # nobody answered yet
    now[0] += DEVICE_CACHE_SECONDS
    await sender.send(bob0.pn_user, text_message("refreshed"))
    assert server.queries == ["usync", "encrypt", "usync"]


async def test_lid_chat_uses_lid_devices() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 2)
    server = MiniServer(alice, bob)
    sender = MessageSender(alice.repo, alice.me, server.query, now_s=lambda: 1)
    out = await sender.send(bob.lid_user, text_message("over lid"))
    assert out.devices == (bob.lid,)
    got = await bob.receiver.receive(deliver(out, alice.lid, bob.lid))
    assert got.message is not None and got.message.chat == alice.lid_user


async def test_group_send_and_retry_resend() -> None:
    alice, bob, carol = (
        Account("15550001111", 1),
        Account("15550002222", 0),
        Account("15550003333", 0),
    )
    server = MiniServer(alice, bob, carol)
    sender = MessageSender(alice.repo, alice.me, server.query, now_s=lambda: 1)
    members = [a.lid_user for a in (alice, bob, carol)]
    out = await sender.send_group(GROUP, members, text_message("group hi"))
    assert sorted(out.skdm_devices) == sorted([bob.lid, carol.lid])
    ok = await carol.receiver.receive(deliver(out, alice.lid, carol.lid))
    assert ok.message is not None and ok.message.text == "group hi"

    # Bob's copy is lost in part: only the skmsg arrives. He asks again; we resend.
    stanza = deliver(out, alice.lid, bob.lid)
    stanza.content = [c for c in stanza.children() if c.attrs.get("type") == "skmsg"]
    failed = await bob.receiver.receive(stanza)
    retry = failed.replies[0]
    forwarded = Node(
        "receipt", {**retry.attrs, "from": GROUP, "participant": bob.lid}, retry.content
    )
    request = parse_retry_receipt(decode_node(encode_node(forwarded)))
    resend = await sender.resend(request)
    assert resend is not None and sender.sent(out.id) is not None
    got = await bob.receiver.receive(deliver(resend, alice.lid, bob.lid))
    assert got.message is not None and got.message.text == "group hi"
    unknown = parse_retry_receipt(
        Node(
            "receipt",
            {**forwarded.attrs, "id": "3EB0NOPE"},
            [Node("retry", {"count": "1", "id": "3EB0NOPE"}), *forwarded.children()[1:]],
        )
    )
    assert await sender.resend(unknown) is None
    # After a group retry, everyone gets our sender key again with the next message.
    nxt = await sender.send_group(GROUP, members, text_message("next"))
    assert sorted(nxt.skdm_devices) == sorted([bob.lid, carol.lid])


async def test_one_to_one_resend_from_the_sent_cache() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 1)
    server = MiniServer(alice, bob)
    sender = MessageSender(alice.repo, alice.me, server.query, now_s=lambda: 1)
    out = await sender.send(bob.pn_user, text_message("try again"))
    stanza = deliver(out, alice.pn, bob.pn)
    enc = stanza.children("enc")[0]
    stanza.content = [Node("enc", enc.attrs, b"\x33broken"), *stanza.children()[1:]]
    failed = await bob.receiver.receive(stanza)
    retry = failed.replies[0]
    request = parse_retry_receipt(
        decode_node(encode_node(Node("receipt", {**retry.attrs, "from": bob.pn}, retry.content)))
    )
    resend = await sender.resend(request)
    assert resend is not None
    assert resend.stanza.attrs["device_fanout"] == "false" and resend.stanza.attrs["to"] == bob.pn
    got = await bob.receiver.receive(deliver(resend, alice.pn, bob.pn))
    assert got.message is not None and got.message.text == "try again"
    assert got.message.retry_count == 1


async def test_forget_devices_drops_one_users_cached_list_or_all_of_them() -> None:
    alice = Account("15550001111", 1)
    bob, carol = Account("15550002222", 2), Account("15550003333", 0)
    server = MiniServer(alice, bob, carol)
    sender = MessageSender(alice.repo, alice.me, server.query, now_s=lambda: 1)
    await sender.devices([bob.pn_user, carol.pn_user])
    assert server.queries == ["usync"]
    sender.forget_devices(bob.pn)  # a device JID names its user
    assert await sender.devices([carol.pn_user]) == [carol.pn]
    assert server.queries == ["usync"]  # carol's list is still cached
    assert await sender.devices([bob.pn_user]) == [bob.pn]
    assert server.queries == ["usync", "usync"]
    sender.forget_devices()
    await sender.devices([carol.pn_user])
    assert server.queries == ["usync", "usync", "usync"]
