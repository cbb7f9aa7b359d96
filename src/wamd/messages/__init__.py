"""The sans-IO messaging core: stanzas out, stanzas in, acks, receipts, retries.

Functions and small classes that build and parse :class:`wamd.binary.Node` stanzas and
drive a :class:`wamd.signal.repository.SignalRepository`; the client sends what they
return. See protocol.md §6.6–§6.10. How a connection uses them::

    receiver = MessageReceiver(repo, state.creds)
    sender = MessageSender(repo, Me.from_creds(state.creds), query, now_s=clock)

    # an incoming <message>
    result = await receiver.receive(node)
    for reply in result.replies:            # receipt, or retry receipt + nack, or ack
        await send_node(reply)
    if result.message is not None:
        emit(result.message.to_event())
    if result.creds_changed:                # a pre-key was handed out in a retry receipt
        emit(CredsUpdate(result.creds_changed, state.creds))

    # an incoming <receipt> or <notification>: ack it
    await send_node(build_ack(node))
    # ... and for <receipt type="retry"> about one of ours, send it again:
    request = parse_retry_receipt(node)
    out = await sender.resend(request)      # None if we no longer know the message
    if out is not None:
        await send_node(out.stanza)

    # sending
    out = await sender.send("15550002222@s.whatsapp.net", text_message("hi"))
    await send_node(out.stanza)
    out = await sender.send_group(group_jid, member_jids, text_message("hi all"))
    await send_node(out.stanza)
"""

from wamd.messages.ack import NackReason, build_ack
from wamd.messages.ids import TagGenerator, generate_message_id
from wamd.messages.prekeys import build_key_fetch, parse_key_fetch_reply
from wamd.messages.receipt import (
    RetryKeys,
    RetryRequest,
    build_receipt,
    build_retry_receipt,
    parse_receipt,
    parse_retry_receipt,
)
from wamd.messages.receive import (
    DecryptFailure,
    Envelope,
    MessageReceiver,
    ReceivedMessage,
    ReceiveResult,
    parse_envelope,
)
from wamd.messages.send import (
    Me,
    OutgoingMessage,
    build_direct_message,
    build_group_message,
    build_peer_message,
    build_retry_resend,
    clear_sender_key_memory,
    inject_bundles,
    load_sender_key_memory,
    missing_sessions,
    parse_sender_key_memory,
    text_message,
)
from wamd.messages.sender import MessageSender, Query
from wamd.messages.usync import (
    DeviceInfo,
    UserDevices,
    build_device_query,
    device_jids,
    device_list_records,
    lid_mappings,
    parse_device_reply,
)

__all__ = [
    "DecryptFailure",
    "DeviceInfo",
    "Envelope",
    "Me",
    "MessageReceiver",
    "MessageSender",
    "NackReason",
    "OutgoingMessage",
    "Query",
    "ReceiveResult",
    "ReceivedMessage",
    "RetryKeys",
    "RetryRequest",
    "TagGenerator",
    "UserDevices",
    "build_ack",
    "build_device_query",
    "build_direct_message",
    "build_group_message",
    "build_key_fetch",
    "build_peer_message",
    "build_receipt",
    "build_retry_receipt",
    "build_retry_resend",
    "clear_sender_key_memory",
    "device_jids",
    "device_list_records",
    "generate_message_id",
    "inject_bundles",
    "lid_mappings",
    "load_sender_key_memory",
    "missing_sessions",
    "parse_device_reply",
    "parse_envelope",
    "parse_key_fetch_reply",
    "parse_receipt",
    "parse_retry_receipt",
    "parse_sender_key_memory",
    "text_message",
]
