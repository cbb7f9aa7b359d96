"""FakeServer usync and pre-key bundle answers, read back with wamd's own parsers."""

from __future__ import annotations

import pytest

from tests.unit.testing.peers import PRE_KEYS, add_device, online
from wamd._proto.adv_pb2 import ADVKeyIndexList, ADVSignedKeyIndexList
from wamd.binary import Node
from wamd.crypto import verify
from wamd.errors import PreKeyFetchError
from wamd.messages.prekeys import build_key_fetch, parse_key_fetch_reply
from wamd.messages.usync import build_device_query, parse_device_reply
from wamd.testing import FakeServer
from wamd.testing.directory import PHONE_PRE_KEYS

ALICE = "15550001111"
BOB = "15550002222"


async def test_usync_lists_phone_and_companions_with_lid_and_signed_key_indexes() -> None:
    async with FakeServer() as server:
        keys = add_device(server, ALICE)
        add_device(server, BOB, 1)
        add_device(server, BOB, 3)
        client = await online(server, keys)
        query = build_device_query(
            [f"{BOB}@s.whatsapp.net", f"1000{ALICE}@lid", "19990000000@s.whatsapp.net"],
            sid="s1",
            iq_id="q1",
        )
        await client.send(query)
        reply = await client.expect("iq")
        assert reply.attrs == {"from": "@s.whatsapp.net", "type": "result", "id": "q1"}
        usync = reply.get_child("usync")
        assert usync is not None and usync.attrs["sid"] == "s1"
        users = {u.jid: u for u in parse_device_reply(reply)}
        bob = users[f"{BOB}@s.whatsapp.net"]
        assert [(d.id, d.key_index) for d in bob.devices] == [(0, None), (1, 1), (3, 3)]
        assert bob.lid == f"1000{BOB}@lid"
        alice = users[f"1000{ALICE}@lid"]  # asked in LID form: answered in that form
        assert [d.id for d in alice.devices] == [0, 1] and alice.lid == f"1000{ALICE}@lid"
        unknown = users["19990000000@s.whatsapp.net"]
        assert unknown.devices == () and unknown.lid is None

        # the key-index list is signed by Bob's account key over 06 02 || details
        listed = usync.get_child("list")
        assert listed is not None
        bob_node = next(u for u in listed.children("user") if u.attrs["jid"].startswith(BOB))
        devices = bob_node.get_child("devices")
        index_node = devices.get_child("key-index-list") if devices is not None else None
        assert index_node is not None
        signed = ADVSignedKeyIndexList.FromString(index_node.content_bytes() or b"")
        details = ADVKeyIndexList.FromString(signed.details)
        assert list(details.validIndexes) == [1, 3] and details.currentIndex == 3
        account_key = server.accounts[BOB].key.public
        assert details.rawId == server.accounts[BOB].raw_id
        assert verify(account_key, b"\x06\x02" + signed.details, signed.accountSignature)
        await client.close()


async def test_contact_usync_says_who_is_on_the_server() -> None:
    async with FakeServer() as server:
        keys = add_device(server, ALICE)
        add_device(server, BOB)
        client = await online(server, keys)
        users = [
            Node("user", {}, [Node("contact", {}, f"+{number}".encode())])
            for number in (BOB, "19990000000")
        ]
        usync = Node(
            "usync",
            {"context": "interactive", "mode": "query", "sid": "s2", "last": "true", "index": "0"},
            [Node("query", {}, [Node("contact", {})]), Node("list", {}, users)],
        )
        reply = await client.query("usync", "get", [usync])
        listed = reply.get_child("usync").get_child("list")  # type: ignore[union-attr]
        answers = {
            u.attrs["jid"]: u.get_child("contact").attrs["type"]  # type: ignore[union-attr]
            for u in listed.children("user")  # type: ignore[union-attr]
        }
        assert answers == {f"{BOB}@s.whatsapp.net": "in", "19990000000@s.whatsapp.net": "out"}
        await client.close()


async def test_bundles_hand_out_each_one_time_key_once() -> None:
    async with FakeServer() as server:
        keys = add_device(server, ALICE)
        bob_keys = add_device(server, BOB)
        client = await online(server, keys)
        seen: list[int] = []
        for round_ in range(PRE_KEYS + 1):
            await client.send(build_key_fetch([f"1000{BOB}:1@lid"], iq_id=f"k{round_}"))
            bundles = parse_key_fetch_reply(await client.expect("iq"))
            bundle = bundles[f"1000{BOB}:1@lid"]  # echoed exactly as asked
            assert bundle.identity_key == b"\x05" + bob_keys.identity.public
            assert bundle.registration_id == bob_keys.registration_id
            assert bundle.signed_pre_key_public == b"\x05" + bob_keys.signed_pre_key.public
            if bundle.pre_key_id is not None:
                seen.append(bundle.pre_key_id)
        assert sorted(seen) == list(range(1, PRE_KEYS + 1))  # each once, then none
        assert server.devices(BOB)[1].pre_keys == {}
        await client.close()


async def test_phone_bundle_is_signed_by_the_account_key_and_unknown_jids_are_404() -> None:
    async with FakeServer() as server:
        keys = add_device(server, ALICE)
        add_device(server, BOB)
        client = await online(server, keys)
        await client.send(build_key_fetch([f"{BOB}@s.whatsapp.net"], identity_refresh=True))
        bundle = parse_key_fetch_reply(await client.expect("iq"))[f"{BOB}@s.whatsapp.net"]
        account = server.accounts[BOB]
        assert bundle.identity_key == b"\x05" + account.key.public
        assert verify(
            account.key.public,
            bundle.signed_pre_key_public,
            bundle.signed_pre_key_signature,
        )
        assert bundle.pre_key_id is not None
        phone = account.phone_device
        assert phone is not None and len(phone.pre_keys) == PHONE_PRE_KEYS - 1

        await client.send(build_key_fetch(["19990000000:1@s.whatsapp.net"]))
        with pytest.raises(PreKeyFetchError, match="404"):
            parse_key_fetch_reply(await client.expect("iq"))
        await client.close()


async def test_pre_key_low_notification_when_stock_falls_below_five() -> None:
    async with FakeServer() as server:
        keys = add_device(server, ALICE)
        bob_keys = add_device(server, BOB)
        alice = await online(server, keys)
        bob = await online(server, bob_keys)
        for _ in range(PRE_KEYS - 4):  # leaves 4
            await alice.send(build_key_fetch([f"{BOB}:1@s.whatsapp.net"]))
            await alice.expect("iq")
        note = await bob.expect("notification")
        assert note.attrs["type"] == "encrypt"
        count = note.get_child("count")
        assert count is not None and count.attrs["value"] == "4"
        await alice.close()
        await bob.close()
