"""Offline delivery: stanzas queued for a device while it was away (fake-server.md §6.4).

Each device has a queue. After ``<success>`` the server delivers it, every stanza with
``offline="1"``, either all at once followed by ``<ib><offline count=N/>`` (simple), or
announced by ``<ib><offline_preview …/>`` and sent in the batches the client asks for
with ``<ib><offline_batch count=K/>`` (preview). A queued stanza leaves the queue only
when the client acknowledges its id (``ack`` or ``receipt``), so a connection lost
before the ack means redelivery. The queue is always closed by ``<ib><offline>``, even
when empty: Baileys waits for it before flushing its events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wamd.binary import Node

if TYPE_CHECKING:
    from wamd.testing.connection import FakeConnection
    from wamd.testing.state import Device

__all__ = ["OfflineDelivery", "acknowledge"]

_PREVIEW_KINDS = {
    "message": "message",
    "notification": "notification",
    "receipt": "receipt",
    "call": "call",
}


def _offline_copy(node: Node) -> Node:
    return Node(node.tag, {**node.attrs, "offline": "1"}, node.content)


class OfflineDelivery:
    """The offline delivery of one logged-in connection."""

    def __init__(self, conn: FakeConnection, device: Device, preview: bool) -> None:
        self._conn = conn
        self._device = device
        self._preview = preview
        self._pending = list(device.offline_queue)
        self._total = len(self._pending)
        self._done = False

    async def start(self) -> None:
        """Right after ``<success>``: deliver everything (simple) or send the preview."""
        if not self._preview:
            await self._send_batch(len(self._pending))
            return
        counts = dict.fromkeys(("message", "notification", "receipt", "call", "appdata"), 0)
        for node in self._pending:
            counts[_PREVIEW_KINDS.get(node.tag, "appdata")] += 1
        attrs = {"count": str(self._total), **{k: str(v) for k, v in counts.items()}}
        await self._conn.send(Node("ib", {}, [Node("offline_preview", attrs)]))

    async def on_batch_request(self, count: int) -> None:
        """The client sent ``<ib><offline_batch count=K/>``: send the next K."""
        if not self._done:
            await self._send_batch(max(count, 1))

    async def _send_batch(self, count: int) -> None:
        batch, self._pending = self._pending[:count], self._pending[count:]
        for node in batch:
            await self._conn.send(_offline_copy(node))
        if not self._pending and not self._done:
            self._done = True
            await self._conn.send(Node("ib", {}, [Node("offline", {"count": str(self._total)})]))


def acknowledge(device: Device, stanza_id: str) -> bool:
    """Remove the queued stanza ``stanza_id`` (the client acked it); True if it was queued."""
    for i, node in enumerate(device.offline_queue):
        if node.attrs.get("id") == stanza_id:
            del device.offline_queue[i]
            return True
    return False
