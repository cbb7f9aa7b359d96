"""Linking a new device: QR codes, the pairing code, and pair-success (protocol.md §4).

On a registration connection the server sends ``pair-device`` with refs. With QR
linking each ref becomes a QR string shown for 60 s (the first) or 20 s (the next
ones); when the refs run out and ``max_qr`` codes have not been shown yet, the socket
is restarted for fresh refs, otherwise linking ends with :class:`AuthFailure`. With a
pairing code the 8-character code is announced instead and the companion_hello /
companion_finish exchange of §4.3 runs on the same socket.

``pair-success`` is verified for real (HMAC with the adv secret, account signature
over our identity key). A bad one is answered with an error iq, nothing is stored, and
linking stops. A good one updates the creds, announces them (handlers such as
``save_creds`` have finished) and only then sends the ``pair-device-sign`` reply.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wamd.auth.creds import Contact, SignalIdentity
from wamd.binary import S_WHATSAPP_NET, Node
from wamd.errors import PairingCheckError, PairingError, QueryError, WamdError
from wamd.events import Authenticated, AuthFailure, PairingCode, QRCode
from wamd.pairing import (
    build_qr,
    companion_finish,
    companion_platform_display,
    companion_platform_id,
    generate_pairing_code,
    normalize_phone_number,
    verify_pair_success,
    wrap_ephemeral_pub,
)

if TYPE_CHECKING:
    from wamd.client.config import Callback
    from wamd.client.connection import Connection

__all__ = ["LinkingState", "on_link_code_notification", "on_pair_device", "on_pair_success"]


@dataclass(slots=True)
class LinkingState:
    """Linking progress: QR codes shown so far (across sockets) and this socket's code."""

    shown: int = 0
    code: str | None = field(default=None, repr=False)
    code_ref: bytes | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    paired: bool = False

    def cancel(self) -> None:
        """Stop the QR timer of this socket."""
        if self.task is not None and not self.task.done():
            self.task.cancel()


async def _call(callback: Callback | None, value: str, conn: Connection, what: str) -> None:
    if callback is None:
        return
    try:
        result = callback(value)
        if inspect.isawaitable(result):
            await result
    except Exception:
        conn.log.exception("%s callback failed; linking goes on", what)


async def on_pair_device(conn: Connection, node: Node) -> None:
    """``<iq type=set><pair-device><ref>…``: ack, then show QR codes or ask for a code."""
    await conn.send_node(
        Node("iq", {"to": S_WHATSAPP_NET, "type": "result", "id": node.attrs["id"]})
    )
    pair_device = node.get_child("pair-device")
    refs = [r.content_bytes() or b"" for r in (pair_device.children("ref") if pair_device else [])]
    refs = [r for r in refs if r]
    if conn.config.pairing_phone is not None:
        conn.linking.task = conn.spawn(_code_window(conn, len(refs)))
        await _start_code_pairing(conn)
        return
    conn.linking.task = conn.spawn(_rotate_qr(conn, refs))


async def _rotate_qr(conn: Connection, refs: list[bytes]) -> None:
    creds = conn.state.creds
    first, later = conn.config.qr_lifetimes
    platform = companion_platform_id(conn.config.browser)
    for ref in refs:
        if conn.linking.shown >= conn.config.max_qr:
            break
        lifetime = first if conn.linking.shown == 0 else later
        conn.linking.shown += 1
        try:
            qr = build_qr(
                ref,
                creds.noise_key.public,
                creds.signed_identity_key.public,
                creds.adv_secret_key,
                platform,
            )
        except PairingError as exc:
            conn.log.warning("skipped an unusable pairing ref: %s", exc)
            continue
        await _call(conn.config.on_qr, qr, conn, "on_qr")
        await conn.emit(QRCode(qr, conn.linking.shown, lifetime))
        await asyncio.sleep(lifetime)
    if conn.linking.shown >= conn.config.max_qr:
        reason = f"no QR code was scanned ({conn.linking.shown} shown, max_qr reached)"
        await conn.emit(AuthFailure(reason))
        conn.end_socket(408, reason, stop=True)
    else:
        conn.end_socket(408, "QR refs ran out; reconnecting for new ones", immediate=True)


async def _code_window(conn: Connection, refs: int) -> None:
    first, later = conn.config.qr_lifetimes
    await asyncio.sleep(first + later * max(0, refs - 1))
    reason = "the pairing code was not entered in time"
    await conn.emit(AuthFailure(reason))
    conn.end_socket(408, reason, stop=True)


async def _start_code_pairing(conn: Connection) -> None:
    creds = conn.state.creds
    phone = normalize_phone_number(conn.config.pairing_phone or "")
    code = generate_pairing_code()
    conn.linking.code = code
    creds.pairing_code = code
    await conn.creds_changed("pairing_code")
    await _call(conn.config.on_pairing_code, code, conn, "on_pairing_code")
    await conn.emit(PairingCode(code))
    browser = conn.config.browser
    # PBKDF2 with 131072 rounds: off the event loop.
    wrapped = await asyncio.to_thread(
        wrap_ephemeral_pub, code, creds.pairing_ephemeral_key_pair.public
    )
    hello = Node(
        "iq",
        {"to": S_WHATSAPP_NET, "type": "set", "xmlns": "md"},
        [
            Node(
                "link_code_companion_reg",
                {
                    "jid": f"{phone}@s.whatsapp.net",
                    "stage": "companion_hello",
                    "should_show_push_notification": "true",
                },
                [
                    Node(
                        "link_code_pairing_wrapped_companion_ephemeral_pub",
                        {},
                        wrapped,
                    ),
                    Node("companion_server_auth_key_pub", {}, creds.noise_key.public),
                    Node("companion_platform_id", {}, companion_platform_id(browser)),
                    Node("companion_platform_display", {}, companion_platform_display(browser)),
                    Node("link_code_pairing_nonce", {}, "0"),
                ],
            )
        ],
    )
    try:
        reply = await conn.query(hello)
    except QueryError as exc:
        reason = f"the server refused the pairing code request: {exc.code} {exc.text}"
        await conn.emit(AuthFailure(reason))
        conn.end_socket(exc.code or 400, reason, stop=True)
        return
    reg = reply.get_child("link_code_companion_reg")
    ref = reg.get_child("link_code_pairing_ref") if reg is not None else None
    conn.linking.code_ref = ref.content_bytes() if ref is not None else None


async def on_link_code_notification(conn: Connection, node: Node) -> None:
    """The phone entered the code: finish the key exchange, then ack the notification."""
    reg = node.get_child("link_code_companion_reg")
    code = conn.linking.code
    try:
        if reg is None or code is None:
            raise PairingError("a link_code_companion_reg notification came unasked")
        ref = _child_bytes(reg, "link_code_pairing_ref")
        if conn.linking.code_ref is not None and ref != conn.linking.code_ref:
            raise PairingError("the notification names another pairing ref")
        creds = conn.state.creds
        finish = await asyncio.to_thread(
            functools.partial(
                companion_finish,
                code=code,
                companion_ephemeral=creds.pairing_ephemeral_key_pair,
                identity=creds.signed_identity_key,
                wrapped_primary_ephemeral_pub=_child_bytes(
                    reg, "link_code_pairing_wrapped_primary_ephemeral_pub"
                ),
                primary_identity_pub=_child_bytes(reg, "primary_identity_pub"),
            )
        )
        creds.adv_secret_key = finish.adv_secret_b64
        await conn.creds_changed("adv_secret_key")
        phone = normalize_phone_number(conn.config.pairing_phone or "")
        await conn.query(
            Node(
                "iq",
                {"to": S_WHATSAPP_NET, "type": "set", "xmlns": "md"},
                [
                    Node(
                        "link_code_companion_reg",
                        {"jid": f"{phone}@s.whatsapp.net", "stage": "companion_finish"},
                        [
                            Node(
                                "link_code_pairing_wrapped_key_bundle",
                                {},
                                finish.wrapped_key_bundle,
                            ),
                            Node("companion_identity_public", {}, creds.signed_identity_key.public),
                            Node("link_code_pairing_ref", {}, ref),
                        ],
                    )
                ],
            )
        )
    except WamdError as exc:
        conn.log.warning("pairing by code failed: %s", exc)
        await conn.emit(AuthFailure(f"pairing by code failed: {exc}"))
        conn.end_socket(401, "pairing by code failed", stop=True)
    finally:
        await _ack(conn, node)


async def on_pair_success(conn: Connection, node: Node) -> None:
    """Verify ``pair-success``; store and announce the creds; then send ``pair-device-sign``."""
    conn.linking.cancel()
    iq_id = node.attrs.get("id", "")
    success = node.get_child("pair-success")
    creds = conn.state.creds
    try:
        if success is None:
            raise PairingCheckError("format", "no pair-success child")
        identity_node = success.get_child("device-identity")
        device = success.get_child("device")
        if identity_node is None or device is None or "jid" not in device.attrs:
            raise PairingCheckError("format", "pair-success lacks device-identity or device")
        verified = verify_pair_success(
            identity_node.content_bytes() or b"", creds.adv_secret_key, creds.signed_identity_key
        )
    except PairingCheckError as exc:
        text = {"hmac": "hmac-mismatch", "account-signature": "signature-mismatch"}.get(
            exc.check, "internal-error"
        )
        code = "401" if exc.check in ("hmac", "account-signature") else "500"
        conn.log.warning("refused a pair-success: %s", exc)
        error = Node(
            "iq",
            {"to": S_WHATSAPP_NET, "type": "error", "id": iq_id},
            [Node("error", {"code": code, "text": text})],
        )
        await conn.send_node(error)
        await conn.emit(AuthFailure(f"pair-success refused: {exc}"))
        conn.end_socket(int(code), "pair-success refused", stop=True)
        return
    if "t" in node.attrs and node.attrs["t"].isdigit():
        conn.server_time_offset = int(node.attrs["t"]) - conn.clock()
    jid = device.attrs["jid"]
    lid = device.attrs.get("lid")
    platform_node = success.get_child("platform")
    platform = platform_node.attrs.get("name") if platform_node is not None else None
    biz = success.get_child("biz")
    biz_name = biz.attrs.get("name") if biz is not None else None
    creds.me = Contact(id=jid, lid=lid, name=biz_name)
    creds.account = verified.account
    identities = list(creds.signal_identities or [])
    identities.append(SignalIdentity(lid or jid, 0, b"\x05" + verified.account_signature_key))
    creds.signal_identities = identities
    creds.platform = platform
    creds.registered = True
    creds.pairing_code = None
    conn.linking.paired = True
    conn.link_unconfirmed = True
    await conn.creds_changed(
        "me", "account", "signal_identities", "platform", "registered", "pairing_code"
    )
    await conn.emit(Authenticated(jid, platform, lid, biz_name))
    reply = Node(
        "iq",
        {"to": S_WHATSAPP_NET, "type": "result", "id": iq_id},
        [
            Node(
                "pair-device-sign",
                {},
                [Node("device-identity", {"key-index": str(verified.key_index)}, verified.reply)],
            )
        ],
    )
    await conn.send_node(reply)


def _child_bytes(node: Node, tag: str) -> bytes:
    child = node.get_child(tag)
    data = child.content_bytes() if child is not None else None
    if not data:
        raise PairingError(f"<{node.tag}> lacks <{tag}>")
    return data


async def _ack(conn: Connection, node: Node) -> None:
    attrs = {"id": node.attrs.get("id", ""), "to": node.attrs.get("from", S_WHATSAPP_NET)}
    attrs["class"] = node.tag
    if "type" in node.attrs:
        attrs["type"] = node.attrs["type"]
    try:
        await conn.send_node(Node("ack", attrs))
    except WamdError as exc:
        conn.log.debug("could not ack <%s>: %s", node.tag, exc)
