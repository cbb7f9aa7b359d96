"""FakeServer flows driven by a minimal client built from wamd's core (no Baileys)."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.testing.mini_client import (
    S_WA,
    DeviceKeys,
    MiniClient,
    answer_pair_success,
    qr_for,
    register,
)
from wamd.binary import Node
from wamd.crypto import generate_key_pair
from wamd.errors import PairingError
from wamd.pairing import (
    companion_finish,
    generate_pairing_code,
    wrap_ephemeral_pub,
)
from wamd.testing import FakeServer, Phase

PHONE = "15550001111"


async def link(server: FakeServer, keys: DeviceKeys, phone_number: str = PHONE) -> int:
    """Link ``keys`` to the phone by QR; return the device id (the 515 has arrived)."""
    client, refs = await register(server.url, server.root_public_key, keys)
    phone = server.phone(phone_number)
    device_id = await phone.scan(qr_for(keys, refs[0]))
    await answer_pair_success(client, keys)
    end = await client.expect("stream:error")
    assert end.attrs == {"code": "515"}
    assert await client.closed_by_server()
    return device_id


async def login(server: FakeServer, keys: DeviceKeys) -> tuple[MiniClient, Node]:
    client = await MiniClient.connect(
        server.url, server.root_public_key, keys, keys.login_payload()
    )
    return client, await client.recv()


async def test_qr_link_creates_the_device_with_registered_keys() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        device_id = await link(server, keys)
        device = server.devices(PHONE)[device_id]
        assert device_id == 1 and keys.device == 1 and keys.user == PHONE
        assert device.identity_pub == keys.identity.public
        assert device.noise_pub == keys.noise.public
        assert device.registration_id == keys.registration_id
        assert device.signed_pre_key is not None
        assert device.signed_pre_key.public == keys.signed_pre_key.public
        assert server.pairing_failures == []


async def test_pair_device_carries_the_configured_number_of_refs() -> None:
    async with FakeServer(pair_refs=3) as server:
        client, refs = await register(server.url, server.root_public_key, DeviceKeys())
        assert len(refs) == 3 and len(set(refs)) == 3
        assert all(r.startswith("2@") and "," not in r for r in refs)
        pair_device_iq = server.connections[0].transcript[0].node
        assert pair_device_iq.attrs["type"] == "set" and pair_device_iq.attrs["xmlns"] == "md"
        await client.close()


async def test_login_success_then_first_iqs_are_answered() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        client, success = await login(server, keys)
        assert success.tag == "success"
        assert success.attrs["lid"] == f"1000{PHONE}:1@lid"
        assert int(success.attrs["t"]) > 0
        offline = await client.recv()
        assert offline.tag == "ib" and offline.children()[0].attrs == {"count": "0"}

        count = await client.query("encrypt", "get", [Node("count")])
        assert count.children("count")[0].attrs["value"] == "0"
        keys_list = [
            Node(
                "key",
                {},
                [Node("id", {}, i.to_bytes(3, "big")), Node("value", {}, bytes([i]) * 32)],
            )
            for i in (1, 2, 3)
        ]
        upload = await client.query(
            "encrypt",
            "set",
            [
                Node("registration", {}, keys.registration_id.to_bytes(4, "big")),
                Node("type", {}, b"\x05"),
                Node("identity", {}, keys.identity.public),
                Node("list", {}, keys_list),
                Node(
                    "skey",
                    {},
                    [
                        Node("id", {}, (1).to_bytes(3, "big")),
                        Node("value", {}, keys.signed_pre_key.public),
                        Node("signature", {}, keys.spk_signature),
                    ],
                ),
            ],
        )
        assert upload.attrs["type"] == "result"
        count = await client.query("encrypt", "get", [Node("count")])
        assert count.children("count")[0].attrs["value"] == "3"
        digest = (await client.query("encrypt", "get", [Node("digest")])).get_child("digest")
        assert digest is not None
        id_list = digest.get_child("list")
        assert id_list is not None
        assert [c.content_bytes() for c in id_list.children("id")] == [
            i.to_bytes(3, "big") for i in (1, 2, 3)
        ]
        hash_node = digest.get_child("hash")
        assert hash_node is not None and len(hash_node.content_bytes() or b"") == 20
        assert server.devices(PHONE)[1].pre_keys == {i: bytes([i]) * 32 for i in (1, 2, 3)}

        for xmlns, kind, child in (
            ("passive", "set", "active"),
            ("w:p", "get", "ping"),
            ("urn:xmpp:whatsapp:dirty", "set", "clean"),
        ):
            reply = await client.query(xmlns, kind, [Node(child)])
            assert reply.attrs["type"] == "result" and reply.attrs["from"] == S_WA
        props = await client.query("abt", "get", [Node("props", {"protocol": "1"})])
        assert props.children("props")[0].attrs["hash"] == "fakehash1"
        blocklist = await client.query("blocklist", "get")
        assert blocklist.children()[0].tag == "list"
        privacy = await client.query("privacy", "get", [Node("privacy")])
        categories = privacy.children("privacy")[0].children("category")
        assert {c.attrs["name"] for c in categories} >= {"readreceipts", "last", "groupadd"}
        assert server.iq_errors == []

        unknown = await client.query("w:m", "set", [Node("media_conn")])
        error = unknown.get_child("error")
        assert unknown.attrs["type"] == "error" and error is not None
        assert error.attrs["code"] == "501"
        assert [n.attrs["xmlns"] for n in server.unknown_iqs] == ["w:m"]
        assert server.iq_errors[0].code == 501
        await client.close()


async def test_upload_with_bad_signed_pre_key_signature_is_refused() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        client, _ = await login(server, keys)
        reply = await client.query(
            "encrypt",
            "set",
            [
                Node("registration", {}, keys.registration_id.to_bytes(4, "big")),
                Node("type", {}, b"\x05"),
                Node("identity", {}, keys.identity.public),
                Node("list", {}, []),
                Node(
                    "skey",
                    {},
                    [
                        Node("id", {}, (2).to_bytes(3, "big")),
                        Node("value", {}, generate_key_pair().public),
                        Node("signature", {}, keys.spk_signature),
                    ],
                ),
            ],
        )
        error = reply.get_child("error")
        assert error is not None and error.attrs["code"] == "400"
        device = server.devices(PHONE)[1]
        assert device.signed_pre_key is not None
        assert device.signed_pre_key.public == keys.signed_pre_key.public
        await client.close()


async def test_pairing_code_flow_with_core_companion_functions() -> None:
    number = "15550004444"
    async with FakeServer() as server:
        phone = server.phone(number)
        keys = DeviceKeys()
        client, _ = await register(server.url, server.root_public_key, keys)
        code = generate_pairing_code()
        ephemeral = generate_key_pair()
        wrapped = await asyncio.to_thread(wrap_ephemeral_pub, code, ephemeral.public)
        hello = await client.query(
            "md",
            "set",
            [
                Node(
                    "link_code_companion_reg",
                    {"jid": f"{number}@s.whatsapp.net", "stage": "companion_hello"},
                    [
                        Node("link_code_pairing_wrapped_companion_ephemeral_pub", {}, wrapped),
                        Node("companion_server_auth_key_pub", {}, keys.noise.public),
                        Node("companion_platform_id", {}, "1"),
                        Node("companion_platform_display", {}, "Chrome (Mac OS)"),
                        Node("link_code_pairing_nonce", {}, "0"),
                    ],
                )
            ],
        )
        reg = hello.get_child("link_code_companion_reg")
        assert reg is not None
        ref_node = reg.get_child("link_code_pairing_ref")
        assert ref_node is not None
        ref = ref_node.content_bytes()
        await phone.enter_code(code[:4] + "-" + code[4:].lower())
        note = await client.expect("notification")
        body = note.get_child("link_code_companion_reg")
        assert body is not None
        primary_pub = body.get_child("primary_identity_pub")
        wrapped_primary = body.get_child("link_code_pairing_wrapped_primary_ephemeral_pub")
        assert primary_pub is not None and wrapped_primary is not None
        assert primary_pub.content_bytes() == phone.account.key.public
        finish = await asyncio.to_thread(
            companion_finish,
            code=code,
            companion_ephemeral=ephemeral,
            identity=keys.identity,
            wrapped_primary_ephemeral_pub=wrapped_primary.content_bytes() or b"",
            primary_identity_pub=phone.account.key.public,
        )
        keys.adv_secret = finish.adv_secret_b64
        done = await client.query(
            "md",
            "set",
            [
                Node(
                    "link_code_companion_reg",
                    {"jid": f"{number}@s.whatsapp.net", "stage": "companion_finish"},
                    [
                        Node("link_code_pairing_wrapped_key_bundle", {}, finish.wrapped_key_bundle),
                        Node("companion_identity_public", {}, keys.identity.public),
                        Node("link_code_pairing_ref", {}, ref),
                    ],
                )
            ],
        )
        assert done.attrs["type"] == "result"
        await answer_pair_success(client, keys)  # the HMAC uses the code-derived adv secret
        assert (await client.expect("stream:error")).attrs == {"code": "515"}
        assert list(phone.devices) == [1]


async def test_companion_hello_for_unknown_number_is_404() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        client, _ = await register(server.url, server.root_public_key, keys)
        reply = await client.query(
            "md",
            "set",
            [
                Node(
                    "link_code_companion_reg",
                    {"jid": "19990000000@s.whatsapp.net", "stage": "companion_hello"},
                    [
                        Node("link_code_pairing_wrapped_companion_ephemeral_pub", {}, bytes(80)),
                        Node("companion_server_auth_key_pub", {}, keys.noise.public),
                    ],
                )
            ],
        )
        error = reply.get_child("error")
        assert error is not None and error.attrs["code"] == "404"
        await client.close()


async def test_scan_of_unknown_ref_or_foreign_keys_fails() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        client, refs = await register(server.url, server.root_public_key, keys)
        phone = server.phone(PHONE)
        with pytest.raises(PairingError, match="not held"):
            await phone.scan(qr_for(keys, "2@nosuchref"))
        other = DeviceKeys()
        with pytest.raises(PairingError, match="noise key"):
            await phone.scan(qr_for(other, refs[0]))
        assert phone.devices == {} and server.connections[0].phase is Phase.REGISTERING
        await client.close()


async def test_two_companions_get_increasing_device_ids_and_key_indexes() -> None:
    async with FakeServer() as server:
        assert await link(server, DeviceKeys()) == 1
        assert await link(server, DeviceKeys()) == 2
        devices = server.devices(PHONE)
        assert [devices[i].key_index for i in (1, 2)] == [1, 2]


async def test_offline_queue_is_redelivered_until_acked() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        note = Node("notification", {"from": S_WA, "type": "test", "id": "srv.q1"})
        server.queue_offline(PHONE, 1, note)
        client, _ = await login(server, keys)
        delivered = await client.recv()
        assert delivered.attrs == {**note.attrs, "offline": "1"}
        assert (await client.recv()).children()[0].attrs == {"count": "1"}
        await client.close()  # no ack: still queued
        assert len(server.devices(PHONE)[1].offline_queue) == 1
        client, _ = await login(server, keys)
        assert (await client.recv()).attrs["id"] == "srv.q1"
        await client.send(Node("ack", {"id": "srv.q1", "class": "notification", "to": S_WA}))
        await server.wait_for(lambda: not server.devices(PHONE)[1].offline_queue)
        await client.close()


async def test_offline_preview_sends_batches_on_request() -> None:
    async with FakeServer(offline_preview=True) as server:
        keys = DeviceKeys()
        await link(server, keys)
        for i in range(3):
            server.queue_offline(PHONE, 1, Node("message", {"id": f"m{i}", "from": S_WA}))
        client, _ = await login(server, keys)
        preview = (await client.recv()).children()[0]
        assert preview.tag == "offline_preview"
        assert preview.attrs["count"] == "3" and preview.attrs["message"] == "3"
        await client.send(Node("ib", {}, [Node("offline_batch", {"count": "2"})]))
        assert [(await client.recv()).attrs["id"] for _ in range(2)] == ["m0", "m1"]
        await client.send(Node("ib", {}, [Node("offline_batch", {"count": "2"})]))
        assert (await client.recv()).attrs["id"] == "m2"
        end = (await client.recv()).children()[0]
        assert (end.tag, end.attrs) == ("offline", {"count": "3"})
        await client.close()


async def test_transcripts_can_be_switched_off_but_errors_are_still_recorded() -> None:
    async with FakeServer(record_transcripts=False) as server:
        keys = DeviceKeys()
        await link(server, keys)
        client, _ = await login(server, keys)
        reply = await client.query("w:m", "set", [Node("media_conn")])
        assert reply.attrs["type"] == "error"
        assert all(c.transcript == [] for c in server.connections)
        assert [n.attrs["xmlns"] for n in server.unknown_iqs] == ["w:m"]
        await client.close()


async def test_registration_timeout_closes_an_unlinked_connection() -> None:
    async with FakeServer(registration_timeout=0.3) as server:
        client, _ = await register(server.url, server.root_public_key, DeviceKeys())
        assert await client.closed_by_server(timeout=3)
        assert [f.check for f in server.pairing_failures] == ["timeout"]
