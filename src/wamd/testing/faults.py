"""Faults the fake server produces on demand, for tests of how clients cope.

Every knob lives on :attr:`FakeServer.faults <wamd.testing.FakeServer.faults>` (one
:class:`Faults` per server) and may be changed at any time from the server's loop; it
applies to what happens next. Stream errors and dropped connections for a client that is
already connected are methods of the server (``send_stream_error``, ``drop``).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from wamd._proto.handshake_pb2 import CertChain
from wamd.crypto import KeyPair, generate_key_pair
from wamd.noise import make_cert_chain

__all__ = ["ChainDefect", "Faults", "LoginFailure", "PairSuccessDefect", "Step", "build_chain"]


class Step(enum.Enum):
    """Points of a connection after which the server can drop it (close, no stanza)."""

    CLIENT_HELLO = "client-hello"
    """The intro and ClientHello arrived; the server closes instead of answering."""
    SERVER_HELLO = "server-hello"
    """The ServerHello was sent; the server closes before the ClientFinish is read."""
    HANDSHAKE = "handshake"
    """The handshake finished; the server closes before its first stanza."""
    PAIR_DEVICE = "pair-device"
    """``pair-device`` (the QR refs) was sent."""
    PAIR_SUCCESS = "pair-success"
    """``pair-success`` was sent; closes before the client's ``pair-device-sign``."""
    PAIR_DEVICE_SIGN = "pair-device-sign"
    """The client's ``pair-device-sign`` was verified (device created); no 515 follows."""
    SUCCESS = "success"
    """``<success>`` was sent at login."""


class ChainDefect(enum.Enum):
    """Ways to spoil the certificate chain, for clients' negative tests."""

    WRONG_ROOT = "wrong-root"
    """The intermediate is signed by a root other than :attr:`FakeServer.root_public_key`."""
    EXPIRED = "expired"
    """Both certificates' validity ended an hour ago."""
    NOT_YET_VALID = "not-yet-valid"
    """Both certificates become valid in an hour."""
    LEAF_KEY_MISMATCH = "leaf-key-mismatch"
    """The leaf certifies a key other than the server's Noise static key."""
    BAD_ISSUER_SERIAL = "bad-issuer-serial"
    """The intermediate names issuer serial 5 instead of the root's 0."""
    BAD_LEAF_ISSUER_SERIAL = "bad-leaf-issuer-serial"
    """The leaf names an issuer serial other than the intermediate's."""
    BAD_LEAF_SIGNATURE = "bad-leaf-signature"
    """The leaf is signed by a key other than the intermediate."""
    SHORT_SIGNATURE = "short-signature"
    """The intermediate's signature is 63 bytes."""


class PairSuccessDefect(enum.Enum):
    """Ways the phone can spoil a ``pair-success``, for clients' negative tests."""

    BAD_HMAC = "bad-hmac"
    """The HMAC is keyed with a secret other than the client's adv secret."""
    BAD_ACCOUNT_SIGNATURE = "bad-account-signature"
    """The account signature covers another identity key than the client's."""


def build_chain(
    root: KeyPair, static_pub: bytes, defect: ChainDefect | None, now: int | None = None
) -> bytes:
    """A serialized CertChain for ``static_pub`` from ``root``, with ``defect`` if given."""
    now = int(time.time()) if now is None else now
    if defect is ChainDefect.WRONG_ROOT:
        return make_cert_chain(generate_key_pair(), static_pub, now).chain
    if defect is ChainDefect.EXPIRED:
        window = (now - 2 * 86400, now - 3600)
        return make_cert_chain(
            root, static_pub, now, intermediate_window=window, leaf_window=window
        ).chain
    if defect is ChainDefect.NOT_YET_VALID:
        window = (now + 3600, now + 86400)
        return make_cert_chain(
            root, static_pub, now, intermediate_window=window, leaf_window=window
        ).chain
    if defect is ChainDefect.LEAF_KEY_MISMATCH:
        return make_cert_chain(root, generate_key_pair().public, now).chain
    if defect is ChainDefect.BAD_ISSUER_SERIAL:
        return make_cert_chain(root, static_pub, now, intermediate_issuer_serial=5).chain
    if defect is ChainDefect.BAD_LEAF_ISSUER_SERIAL:
        return make_cert_chain(root, static_pub, now, leaf_issuer_serial=7).chain
    if defect is ChainDefect.BAD_LEAF_SIGNATURE:
        return make_cert_chain(root, static_pub, now, leaf_signer=generate_key_pair()).chain
    chain = make_cert_chain(root, static_pub, now).chain
    if defect is ChainDefect.SHORT_SIGNATURE:
        parsed = CertChain.FromString(chain)
        parsed.intermediate.signature = parsed.intermediate.signature[:63]
        return parsed.SerializeToString()
    return chain


@dataclass(frozen=True, slots=True)
class LoginFailure:
    """A ``<failure>`` to send instead of ``<success>`` at login.

    ``reason`` is the status (401, 402, 403, 405, 406, 409, 500, 503…); ``attrs`` extra
    attributes (``code``/``expire`` for 402, ``logout_message_header`` for 403).
    ``phone_number``/``device`` restrict it to one account or device (``None``: any).
    """

    reason: int
    attrs: tuple[tuple[str, str], ...] = ()
    phone_number: str | None = None
    device: int | None = None

    def matches(self, phone_number: str, device: int) -> bool:
        """True when this failure applies to a login of ``phone_number``/``device``."""
        return (self.phone_number is None or self.phone_number == phone_number) and (
            self.device is None or self.device == device
        )


@dataclass(slots=True)
class Faults:
    """The fault knobs of one fake server (all off by default).

    - :meth:`drop_after` closes connections right after a :class:`Step`;
    - :meth:`fail_login` answers logins with ``<failure reason=N>``;
    - ``min_version``: logins announcing an older app version get ``<failure
      reason="405">``;
    - ``answer_pings`` False: keep-alive pings go unanswered (Baileys then closes 408);
    - ``silent`` True: no iq is answered at all (the connection stays open);
    - ``unanswered``: iq namespaces (``xmlns``) left unanswered;
    - ``chain``: a :class:`ChainDefect` for the certificate chain of new connections;
    - ``pair_sign_delay``: seconds between a valid ``pair-device-sign`` and the 515.
    """

    min_version: tuple[int, int, int] | None = None
    answer_pings: bool = True
    silent: bool = False
    unanswered: set[str] = field(default_factory=set)
    chain: ChainDefect | None = None
    pair_sign_delay: float = 0.1
    _drops: dict[Step, int] = field(default_factory=dict)
    _failures: list[tuple[LoginFailure, int | None]] = field(default_factory=list)

    def drop_after(self, step: Step, times: int = 1) -> None:
        """Close the next ``times`` connections that reach ``step`` right after it."""
        self._drops[step] = self._drops.get(step, 0) + times

    def take_drop(self, step: Step) -> bool:
        """Consume one pending drop at ``step``; True if the connection must close now."""
        left = self._drops.get(step, 0)
        if left <= 0:
            return False
        self._drops[step] = left - 1
        return True

    def fail_login(
        self,
        reason: int,
        *,
        phone_number: str | None = None,
        device: int | None = None,
        times: int | None = 1,
        attrs: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` matching logins (``None``: all) with ``<failure>``.

        ``attrs`` are extra attributes of the failure (``code``, ``expire`` for 402).
        """
        failure = LoginFailure(reason, tuple((attrs or {}).items()), phone_number, device)
        self._failures.append((failure, times))

    def take_login_failure(self, phone_number: str, device: int) -> LoginFailure | None:
        """Consume and return the first injected failure that matches this login."""
        for i, (failure, times) in enumerate(self._failures):
            if failure.matches(phone_number, device):
                if times is not None:
                    if times <= 1:
                        del self._failures[i]
                    else:
                        self._failures[i] = (failure, times - 1)
                return failure
        return None

    def clear(self) -> None:
        """Turn every fault off."""
        self.min_version = None
        self.answer_pings = True
        self.silent = False
        self.unanswered.clear()
        self.chain = None
        self._drops.clear()
        self._failures.clear()
