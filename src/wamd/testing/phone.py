"""The user's phone: scans QR codes, types pairing codes, unlinks devices.

A :class:`FakePhone` is the primary device (device 0) of one account on a
:class:`~wamd.testing.FakeServer`. Its account key signs every companion it links,
exactly as a real phone's identity key does (fake-server.md §2.3–§2.4, §3.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.errors import PairingError
from wamd.pairing import parse_qr
from wamd.testing.connection import Phase
from wamd.testing.faults import PairSuccessDefect
from wamd.testing.state import Account, Device

if TYPE_CHECKING:
    from wamd.testing.server import FakeServer

__all__ = ["FakePhone"]


class FakePhone:
    """The phone of account ``phone_number`` on ``server`` (created if new).

    ``push_name``, ``platform`` (``android``, ``iphone``, ``smba``, ``smbi``) and
    ``biz_name`` (a business account) apply when the account is created. The methods
    are coroutines of the server's event loop; from another thread use
    :meth:`ServerThread.run <wamd.testing.ServerThread.run>`.
    """

    def __init__(
        self,
        server: FakeServer,
        phone_number: str = "15550001111",
        *,
        push_name: str = "Fake Phone",
        platform: str = "android",
        biz_name: str | None = None,
    ) -> None:
        if not phone_number.isdigit() or not phone_number.isascii():
            raise PairingError(f"phone number must be digits only, got {phone_number!r}")
        self.server = server
        account = server.accounts.get(phone_number)
        if account is None:
            account = Account.create(
                phone_number, push_name=push_name, platform=platform, biz_name=biz_name
            )
            server.accounts[phone_number] = account
        self.account = account

    def __repr__(self) -> str:
        return f"FakePhone({self.account.phone_number!r}, devices={sorted(self.devices)})"

    @property
    def phone_number(self) -> str:
        """The account's phone number (the PN user)."""
        return self.account.phone_number

    @property
    def devices(self) -> dict[int, Device]:
        """The account's linked companion devices, by device id."""
        return self.account.devices

    async def scan(self, qr: str, *, defect: PairSuccessDefect | None = None) -> int:
        """Scan a client's QR string and link it; return the device id it will get.

        ``defect`` sends a spoilt ``pair-success`` (a strict client refuses it, and no
        device is created unless the client signs it anyway).

        Raises :class:`~wamd.errors.PairingError` when the QR is malformed, names a ref
        no open registration holds, or carries keys other than that client registered.
        The link completes when the client answers ``pair-success`` (wait for
        ``server.wait_for(lambda: device_id in phone.devices)``).
        """
        data = parse_qr(qr)
        conn = self.server.linking.refs.get(data.ref)
        if conn is None or conn.phase is not Phase.REGISTERING or conn.registration is None:
            raise PairingError(f"QR ref {data.ref!r} is not held by a registering connection")
        if data.noise_pub != conn.client_static:
            raise PairingError("QR noise key differs from the connection's Noise static key")
        if data.identity_pub != conn.registration.identity_pub:
            raise PairingError("QR identity key differs from the registered identity key")
        device_id = self.account.next_device_id
        await self.server.linking.link(conn, self.account, data.adv_secret, defect)
        return device_id

    async def enter_code(self, code: str) -> None:
        """Type the 8-character pairing code a client showed (a dash is allowed).

        Raises :class:`~wamd.errors.PairingError` if no client asked to link with this
        phone number. A wrong code is noticed when the client's key bundle does not
        open; the server then records a pairing failure.
        """
        await self.server.linking.enter_code(self.account, code)

    async def unlink(self, device_id: int) -> bool:
        """Remove a linked device; a connected one gets stream error 401 and is closed.

        Returns False when the account has no such device.
        """
        if self.account.devices.pop(device_id, None) is None:
            return False
        self.server.notify()
        await self.server.messaging.announce_devices(self.account, "remove", device_id)
        conn = self.server.connection_of(self.phone_number, device_id)
        if conn is not None:
            removed = [Node("conflict", {"type": "device_removed"})]
            node = Node("stream:error", {"code": "401"}, removed)
            await conn.end_stream(node)
        return True
