"""The sans-IO messaging core: stanzas out, stanzas in, acks, receipts, retries.

Functions and small classes that build and parse :class:`wamd.binary.Node` stanzas and
drive a :class:`wamd.signal.repository.SignalRepository`; the client sends what they
return. See protocol.md §6.6–§6.10.
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
    build_retry_resend,
    clear_sender_key_memory,
    inject_bundles,
    load_sender_key_memory,
    missing_sessions,
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
    "text_message",
]
