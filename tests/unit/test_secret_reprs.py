"""Secrets never show in ``repr()`` or ``str()`` of any wamd object that holds them.

A scan of the source finds every class with an attribute whose name says it may hold
key material (:data:`_SECRET_NAME`); each one needs a builder in :data:`SECRET_CASES`
(an instance made here with known secret bytes) or a reason in :data:`NOT_SECRET`.
Each built instance's repr and str are searched for the secrets in hex, base64 and
Python bytes form (:func:`leak_forms`). No log call in the source is handed a value
whose name says it may be key material (:func:`secrets_passed_to_logs`).
"""

from __future__ import annotations

import ast
import asyncio
import base64
import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tests.unit.test_architecture import module_name, source_files

# --- secrets never in repr or str ------------------------------------------------------------

_SECRET_NAME = re.compile(
    r"priv|secret|chain_key|root_key|message_keys|key_pair|pairing_code"
    r"|^_?(noise|static|ephemeral|write|read|identity|signed_identity|signing)_key$"
    r"|^_?(key|ck|k|static|ephemeral|identity|cipher|state|code|qr|creds|sessions|states)$",
    re.IGNORECASE,
)
"""Attribute names that may hold key material (or objects that do)."""

_SECRET_TYPES = re.compile(
    r"\b(KeyPair|EphemeralKey|PreKey|SignedPreKey|LocalIdentity|AuthCreds|AuthState|AuthHandle"
    r"|SessionState|SessionRecord|Chain|SenderKeyState|SenderKeyRecord"
    r"|SenderKeyDistributionMessage|TransportCipher|SymmetricState|SignalRepository"
    r"|NoiseInitiator|NoiseResponder|X25519PrivateKey)\b"
)
"""Types (in annotations) whose values hold key material."""


def _attributes(cls: ast.ClassDef) -> Iterator[tuple[str, str]]:
    """``(name, annotation)`` of a class's fields and of the ``self.x`` its __init__ sets.

    The annotation of ``self.x = param`` is the parameter's; ``""`` when there is none.
    """
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            yield stmt.target.id, ast.unparse(stmt.annotation)
        if not (isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__"):
            continue
        args = [*stmt.args.args, *stmt.args.kwonlyargs]
        params = {a.arg: ast.unparse(a.annotation) for a in args if a.annotation is not None}
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assign):
                targets, annotation = node.targets, ""
            elif isinstance(node, ast.AnnAssign):
                targets, annotation = [node.target], ast.unparse(node.annotation)
            else:
                continue
            value = ast.unparse(node.value) if node.value is not None else ""
            for t in targets:
                if (
                    isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name)
                    and t.value.id == "self"
                ):
                    yield t.attr, annotation or params.get(value, "")


def secret_bearing_classes() -> dict[str, list[str]]:
    """Classes of wamd with an attribute that may hold key material.

    An attribute counts if its name matches :data:`_SECRET_NAME` or its annotation names
    a type of :data:`_SECRET_TYPES`; maps ``module.Class`` to those attribute names.
    """
    found: dict[str, list[str]] = {}
    for path in source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            matching = sorted(
                {
                    name
                    for name, annotation in _attributes(cls)
                    if _SECRET_NAME.search(name) or _SECRET_TYPES.search(annotation)
                }
            )
            if matching:
                found[f"{module_name(path)}.{cls.name}"] = matching
    return found


def _secret(tag: int, length: int = 32) -> bytes:
    """Distinctive bytes no public value here will contain by chance."""
    return bytes((tag * 37 + i * 11 + 0x5A) % 256 for i in range(length))


def _private(tag: int) -> bytes:
    from wamd.crypto.curve import clamp

    return clamp(_secret(tag))


def leak_forms(secret: bytes) -> list[str]:
    """Ways a secret could show up in text: hex, base64 (all flavours), Python bytes repr."""
    b64 = base64.b64encode(secret).decode()
    forms = [
        secret.hex(),
        secret.hex()[:16],
        secret.hex().upper(),
        b64,
        b64.rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret)[2:-1],
        ", ".join(str(b) for b in secret[:8]),
    ]
    return [f for f in forms if len(f) >= 12]


def leaks(obj: object, secrets: Iterable[bytes]) -> list[str]:
    """The secrets whose text forms appear in ``repr(obj)`` or ``str(obj)``."""
    texts = {"repr": repr(obj), "str": str(obj)}
    return [
        f"{kind}({type(obj).__name__}) shows {form!r}"
        for secret in secrets
        for form in leak_forms(secret)
        for kind, text in texts.items()
        if form in text
    ]


Case = Callable[[], tuple[object, list[bytes]]]
SECRET_CASES: dict[str, Case] = {}
"""``module.Class`` -> a builder of an instance and the secrets it holds."""


def case(*names: str) -> Callable[[Case], Case]:
    """Register a builder as the secret case of the classes ``names``."""

    def register(fn: Case) -> Case:
        for name in names:
            SECRET_CASES[name] = fn
        return fn

    return register


def _key_pair(tag: int) -> tuple[Any, bytes]:
    from wamd.crypto import KeyPair

    pair = KeyPair.from_private(_private(tag))
    return pair, pair.private


@case("wamd.crypto.curve.KeyPair")
def _key_pair_case() -> tuple[object, list[bytes]]:
    pair, private = _key_pair(1)
    return pair, [private]


@case("wamd.signal.keys.PreKey")
def _pre_key_case() -> tuple[object, list[bytes]]:
    from wamd.signal.keys import PreKey

    pair, private = _key_pair(2)
    return PreKey(7, pair), [private]


@case("wamd.signal.keys.SignedPreKey")
def _signal_signed_pre_key_case() -> tuple[object, list[bytes]]:
    from wamd.signal.keys import SignedPreKey

    pair, private = _key_pair(3)
    return SignedPreKey(9, pair, bytes(64)), [private]


@case("wamd.signal.ratchet.EphemeralKey")
def _ephemeral_case() -> tuple[object, list[bytes]]:
    from wamd.signal.ratchet import EphemeralKey

    pair, private = _key_pair(4)
    key = X25519PrivateKey.from_private_bytes(private)
    return EphemeralKey(private, b"\x05" + pair.public, key), [private]


def _chain(tag: int) -> tuple[Any, list[bytes]]:
    from wamd.signal.session_state import CHAIN_SENDING, Chain

    key, skipped = _secret(tag), _secret(tag + 1)
    return Chain(CHAIN_SENDING, 3, key, {2: skipped}), [key, skipped]


@case("wamd.signal.session_state.Chain")
def _chain_case() -> tuple[object, list[bytes]]:
    return _chain(10)


def _session_state(tag: int) -> tuple[Any, list[bytes]]:
    from wamd.signal.session_state import SessionState

    pair, private = _key_pair(tag)
    root = _secret(tag + 1)
    chain, chain_secrets = _chain(tag + 2)
    state = SessionState(
        registration_id=1,
        ephemeral_public=b"\x05" + pair.public,
        ephemeral_private=private,
        last_remote_ephemeral=b"\x05" + bytes(32),
        previous_counter=0,
        root_key=root,
        base_key=b"\x05" + bytes(range(32)),
        base_key_type=1,
        closed=-1,
        used=0,
        created=0,
        remote_identity_key=b"\x05" + bytes(range(32, 64)),
        chains={b"\x05" + pair.public: chain},
    )
    return state, [private, root, *chain_secrets]


@case("wamd.signal.session_state.SessionState")
def _session_state_case() -> tuple[object, list[bytes]]:
    return _session_state(20)


@case("wamd.signal.session_record.SessionRecord")
def _session_record_case() -> tuple[object, list[bytes]]:
    from wamd.signal.session_record import SessionRecord

    state, secrets = _session_state(30)
    return SessionRecord({state.base_key: state}), secrets


def _sender_key_state(tag: int) -> tuple[Any, list[bytes]]:
    from wamd.signal.sender_key_record import SenderKeyState

    pair, private = _key_pair(tag)
    chain_key, skipped = _secret(tag + 1), _secret(tag + 2)
    state = SenderKeyState(
        5,
        12,
        chain_key,
        b"\x05" + pair.public,
        signing_private=private,
        message_keys={11: skipped},
    )
    return state, [private, chain_key, skipped]


@case("wamd.signal.sender_key_record.SenderKeyState")
def _sender_key_state_case() -> tuple[object, list[bytes]]:
    return _sender_key_state(40)


@case("wamd.signal.sender_key_record.SenderKeyRecord")
def _sender_key_record_case() -> tuple[object, list[bytes]]:
    from wamd.signal.sender_key_record import SenderKeyRecord

    state, secrets = _sender_key_state(50)
    return SenderKeyRecord([state]), secrets


@case("wamd.signal.sender_key_message.SenderKeyDistributionMessage")
def _distribution_case() -> tuple[object, list[bytes]]:
    from wamd.signal.sender_key_message import SenderKeyDistributionMessage

    pair, _ = _key_pair(60)
    chain_key = _secret(61)
    return SenderKeyDistributionMessage(1, 0, chain_key, b"\x05" + pair.public), [chain_key]


@case("wamd.signal.repository.LocalIdentity")
def _local_identity_case() -> tuple[object, list[bytes]]:
    from wamd.signal.keys import SignedPreKey
    from wamd.signal.repository import LocalIdentity

    identity, identity_private = _key_pair(70)
    spk, spk_private = _key_pair(71)
    local = LocalIdentity(identity, 1234, SignedPreKey(1, spk, bytes(64)))
    return local, [identity_private, spk_private]


@case("wamd.auth.creds.SignedPreKey")
def _creds_signed_pre_key_case() -> tuple[object, list[bytes]]:
    from wamd.auth.creds import SignedPreKey

    pair, private = _key_pair(80)
    return SignedPreKey(pair, bytes(64), 1), [private]


def _creds(tag: int) -> tuple[Any, list[bytes]]:
    from wamd.auth.creds import SignedPreKey, init_auth_creds

    noise, noise_private = _key_pair(tag)
    ephemeral, ephemeral_private = _key_pair(tag + 1)
    identity, identity_private = _key_pair(tag + 2)
    spk, spk_private = _key_pair(tag + 3)
    adv = _secret(tag + 4)
    code = _secret(tag + 5, 8)
    creds = dataclasses.replace(
        init_auth_creds(),
        noise_key=noise,
        pairing_ephemeral_key_pair=ephemeral,
        signed_identity_key=identity,
        signed_pre_key=SignedPreKey(spk, bytes(64), 1),
        adv_secret_key=base64.b64encode(adv).decode(),
        pairing_code=code.hex().upper()[:8],
    )
    return creds, [noise_private, ephemeral_private, identity_private, spk_private, adv]


@case("wamd.auth.creds.AuthCreds")
def _auth_creds_case() -> tuple[object, list[bytes]]:
    creds, secrets = _creds(90)
    assert creds.pairing_code not in repr(creds)
    return creds, secrets


@case("wamd.auth.state.AuthState")
def _auth_state_case() -> tuple[object, list[bytes]]:
    from wamd.auth.backends.memory import MemoryBackend
    from wamd.auth.keystore import KeyStore
    from wamd.auth.state import AuthState

    creds, secrets = _creds(100)
    return AuthState(creds=creds, keys=KeyStore(MemoryBackend())), secrets


@case("wamd.auth.state.AuthHandle")
def _auth_handle_case() -> tuple[object, list[bytes]]:
    from wamd.auth.backends.memory import MemoryBackend
    from wamd.auth.state import AuthHandle

    state, secrets = _auth_state_case()
    return AuthHandle(state, MemoryBackend()), secrets  # type: ignore[arg-type]


@case("wamd.auth.backends.memory.MemoryBackend")
def _memory_backend_case() -> tuple[object, list[bytes]]:
    from wamd.auth.backends.memory import MemoryBackend

    backend = MemoryBackend()
    creds, secrets = _creds(105)
    value = _secret(109)
    asyncio.run(backend.save_creds(creds))
    asyncio.run(backend.write({"session": {"1.0": value}}))
    return backend, [*secrets, value]


@case("wamd.messages.receive.MessageReceiver")
def _receiver_case() -> tuple[object, list[bytes]]:
    from wamd.messages.receive import MessageReceiver

    repo, repo_secrets = _repository(235)
    creds, secrets = _creds(240)
    return MessageReceiver(repo, creds), [*repo_secrets, *secrets]


@case("wamd.events.QRCode")
def _qr_event_case() -> tuple[object, list[bytes]]:
    from wamd.events import QRCode

    adv = _secret(110)
    qr = f"ref,{base64.b64encode(_secret(111)).decode()},x,{base64.b64encode(adv).decode()}"
    return QRCode(qr=qr, attempt=1, expires_in=60.0), [adv]


@case("wamd.events.PairingCode")
def _pairing_code_event_case() -> tuple[object, list[bytes]]:
    from wamd.events import PairingCode

    raw = _secret(120, 6)
    event = PairingCode(code=raw.hex().upper()[:8])
    assert event.code not in repr(event)
    assert event.code not in str(event)
    return event, [raw]


@case("wamd.events.CredsUpdate")
def _creds_update_case() -> tuple[object, list[bytes]]:
    from wamd.events import CredsUpdate

    creds, secrets = _creds(130)
    return CredsUpdate(changed=frozenset({"noise_key"}), creds=creds), secrets


@case("wamd.pairing.qr.QRData")
def _qr_data_case() -> tuple[object, list[bytes]]:
    from wamd.pairing.qr import QRData

    adv = _secret(140)
    return QRData("ref", bytes(32), bytes(range(32)), adv, "1"), [adv]


@case("wamd.pairing.code.CompanionFinish")
def _companion_finish_case() -> tuple[object, list[bytes]]:
    from wamd.pairing.code import CompanionFinish

    adv = _secret(150)
    return CompanionFinish(b"\x00" * 80, adv), [adv]


@case("wamd.pairing.code.PrimaryHello")
def _primary_hello_case() -> tuple[object, list[bytes]]:
    from wamd.pairing.code import PrimaryHello

    pair, private = _key_pair(160)
    return PrimaryHello(pair, bytes(32), bytes(80)), [private]


@case("wamd.noise.transport.TransportCipher")
def _transport_case() -> tuple[object, list[bytes]]:
    from wamd.noise.transport import TransportCipher

    write, read = _secret(170), _secret(171)
    return TransportCipher(write, read), [write, read]


@case("wamd.noise.symmetric.SymmetricState")
def _symmetric_case() -> tuple[object, list[bytes]]:
    from wamd.noise.symmetric import SymmetricState

    state = SymmetricState(b"prologue")
    state.mix_key(_secret(175))
    write, read = state.split()
    state.mix_key(_secret(176))
    return state, [write, read]


@case("wamd.noise.handshake.NoiseInitiator")
def _initiator_case() -> tuple[object, list[bytes]]:
    from wamd.noise.handshake import NoiseInitiator

    pair, private = _key_pair(180)
    initiator = NoiseInitiator(ephemeral=pair)
    initiator.client_hello()
    return initiator, [private]


@case("wamd.noise.handshake.NoiseResponder")
def _responder_case() -> tuple[object, list[bytes]]:
    from wamd.noise.handshake import NoiseResponder

    static, static_private = _key_pair(190)
    ephemeral, ephemeral_private = _key_pair(191)
    responder = NoiseResponder(static, b"chain", ephemeral=ephemeral)
    return responder, [static_private, ephemeral_private]


@case("wamd.noise.certificate.IssuedChain")
def _issued_chain_case() -> tuple[object, list[bytes]]:
    from wamd.noise.certificate import make_cert_chain

    root, root_private = _key_pair(250)
    intermediate, intermediate_private = _key_pair(251)
    issued = make_cert_chain(root, bytes(range(32)), 1000, intermediate=intermediate)
    return issued, [root_private, intermediate_private]


def _handshake(tag: int) -> tuple[Any, Any, list[bytes]]:
    from wamd.noise import FrameReader, NoiseInitiator, NoiseResponder, make_cert_chain

    root, _ = _key_pair(tag)
    static, static_private = _key_pair(tag + 1)
    noise, noise_private = _key_pair(tag + 2)
    responder = NoiseResponder(static, make_cert_chain(root, static.public, 1000).chain)
    initiator = NoiseInitiator()
    (hello,) = FrameReader(expect_intro=True).feed(initiator.client_hello())
    (server_hello,) = FrameReader().feed(responder.process_client_hello(hello))
    client = initiator.process_server_hello(
        server_hello, noise, b"payload", now=1000, root_key=root.public
    )
    (finish,) = FrameReader().feed(client.message)
    server = responder.process_client_finish(finish)
    keys = [client.transport._write_key, client.transport._read_key]
    assert keys == [server.transport._read_key, server.transport._write_key]
    return client, server, [static_private, noise_private, *keys]


@case("wamd.noise.handshake.ClientFinished")
def _client_finished_case() -> tuple[object, list[bytes]]:
    client, _, secrets = _handshake(260)
    return client, secrets


@case("wamd.noise.handshake.ServerFinished")
def _server_finished_case() -> tuple[object, list[bytes]]:
    _, server, secrets = _handshake(270)
    return server, secrets


def _repository(tag: int) -> tuple[Any, list[bytes]]:
    from wamd.auth.backends.memory import MemoryBackend
    from wamd.auth.keystore import KeyStore
    from wamd.signal.keys import SignedPreKey
    from wamd.signal.repository import LocalIdentity, SignalRepository

    identity, identity_private = _key_pair(tag)
    spk, spk_private = _key_pair(tag + 1)
    local = LocalIdentity(identity, 1234, SignedPreKey(1, spk, bytes(64)))
    store = KeyStore(MemoryBackend())
    return SignalRepository(store, local, now_ms=lambda: 0), [identity_private, spk_private]


@case("wamd.signal.repository.SignalRepository")
def _repository_case() -> tuple[object, list[bytes]]:
    return _repository(280)


@case("wamd.messages.sender.MessageSender")
def _sender_case() -> tuple[object, list[bytes]]:
    from wamd.binary import Node
    from wamd.messages.send import Me
    from wamd.messages.sender import MessageSender

    repo, secrets = _repository(290)

    async def query(node: Node) -> Node:
        return node

    me = Me("15550001111:2@s.whatsapp.net")
    return MessageSender(repo, me, query, now_s=lambda: 0), secrets


@case("wamd.testing.state.Account")
def _account_case() -> tuple[object, list[bytes]]:
    from wamd.testing.state import Account

    pair, private = _key_pair(200)
    return Account.create("15550001234", key=pair), [private]


@case("wamd.testing.server.FakeServer")
def _fake_server_case() -> tuple[object, list[bytes]]:
    from wamd.testing.server import FakeServer

    root, root_private = _key_pair(210)
    server = FakeServer(root=root)
    secrets = [root_private, server.static_key.private]
    return server, secrets


@case("wamd.client.linking.LinkingState")
def _linking_state_case() -> tuple[object, list[bytes]]:
    from wamd.client.linking import LinkingState

    raw = _secret(220, 6)
    ref = _secret(221)
    return LinkingState(shown=1, code=raw.hex().upper()[:8], code_ref=ref), [raw, ref]


NOT_SECRET: dict[str, str] = {
    "wamd.auth._seal.Sealer": "private helper; default object repr shows nothing",
    "wamd.auth.keystore._TransactionContext": "its _key is a transaction key (a JID), not a key",
    "wamd.client.config.ClientConfig": "holds the public server root key and a callback",
    "wamd.client.connect._Connect": "private awaitable; default object repr",
    "wamd.client.connection.Connection": "built only around a live socket; repr has no state",
    "wamd.client.messaging.Messaging": "built only around a linked live connection; repr "
    "shows our JIDs only",
    "wamd.client.socket.NoiseSocket": "built only around a live websocket; repr shows the "
    "cipher's repr, which TransportCipher's case covers",
    "wamd.errors.PreKeyFetchError": "code is an error code",
    "wamd.errors.MessageRejectedError": "code is an error code",
    "wamd.errors.QueryError": "code is an error code",
    "wamd.messages.receipt.RetryKeys": "identity and keys are public; pre_key's repr is "
    "covered by PreKey",
    "wamd.noise.certificate.CertDetails": "key is a certificate's public key",
    "wamd.signal.keys.PreKeyBundle": "a peer's public bundle",
    "wamd.signal.session_cipher.PreKeyDecryptResult": "identity_key is a peer's public key",
    "wamd.signal.wire.PreKeyMessage": "identity_key and base_key are public",
    "wamd.testing.connection.FakeConnection": "built only around a live websocket; repr shows "
    "ids only",
    "wamd.testing.records.IqError": "code is an error code",
    "wamd.testing.state.Device": "its SignedPreKey is the fake server's record: public key "
    "and signature only",
}
"""Classes whose matching attribute names hold no secret, and why."""

XFAIL_CASES: dict[str, str] = {}


def test_every_class_that_may_hold_secrets_has_a_case_or_a_reason() -> None:
    found = secret_bearing_classes()
    assert "wamd.crypto.curve.KeyPair" in found  # the scan sees real classes
    uncovered = {
        name: attrs
        for name, attrs in found.items()
        if name not in SECRET_CASES and name not in NOT_SECRET
    }
    assert uncovered == {}, "add a SECRET_CASES builder (or a NOT_SECRET reason) for these"
    stale = sorted((set(SECRET_CASES) | set(NOT_SECRET)) - set(found))
    assert stale == [], "these classes are gone or renamed"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=XFAIL_CASES[n], strict=True))
        if n in XFAIL_CASES
        else n
        for n in sorted(SECRET_CASES)
    ],
)
def test_repr_and_str_never_show_key_material(name: str) -> None:
    obj, secrets = SECRET_CASES[name]()
    assert f"{type(obj).__module__}.{type(obj).__qualname__}" == name
    assert secrets and all(len(s) >= 6 for s in secrets)
    assert leaks(obj, secrets) == []


def test_checker_notices_a_leaking_repr() -> None:
    secret = _secret(230)

    @dataclass
    class Leaky:
        key: bytes

    @dataclass
    class LeakyBase64:
        key: str

    @dataclass
    class Truncated:
        key: str

    assert leaks(Leaky(secret), [secret]) != []
    assert leaks(LeakyBase64(base64.b64encode(secret).decode()), [secret]) != []
    assert leaks(Truncated(secret.hex()[:20] + "..."), [secret]) != []
    assert leaks(Leaky(bytes(32)), [secret]) == []


def test_secret_scan_sees_attributes_by_annotation() -> None:
    source = (
        "class Holder:\n"
        "    plain: int\n"
        "    pair: KeyPair | None\n"
        "    def __init__(self, local: LocalIdentity, n: int) -> None:\n"
        "        self._who = local\n"
        "        self._n = n\n"
    )
    cls = ast.parse(source).body[0]
    assert isinstance(cls, ast.ClassDef)
    typed = [name for name, ann in _attributes(cls) if _SECRET_TYPES.search(ann)]
    assert typed == ["pair", "_who"]


def test_secret_scan_notices_a_new_key_holder() -> None:
    assert _SECRET_NAME.search("root_key")
    assert _SECRET_NAME.search("signing_private")
    assert _SECRET_NAME.search("_write_key")
    assert not _SECRET_NAME.search("key_id")
    assert not _SECRET_NAME.search("public")


# --- log calls ---------------------------------------------------------------------------------

_LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "log"})
_LOGGERS = re.compile(r"^_?(log|logger|LOG)$")
_TOO_GENERIC_FOR_LOGS = frozenset({"code", "state", "_state"})  # status codes, enum states


def _secret_for_logs(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and name not in _TOO_GENERIC_FOR_LOGS


def secrets_passed_to_logs(source: str, where: str) -> list[str]:
    """Log calls in ``source`` given a value whose name says it may be key material."""
    bad: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        func = node.func
        target = func.value
        owner = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if func.attr not in _LOG_METHODS or not _LOGGERS.match(owner):
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            for part in ast.walk(arg):
                name = part.attr if isinstance(part, ast.Attribute) else getattr(part, "id", "")
                if isinstance(name, str) and _secret_for_logs(name):
                    bad.append(f"{where}:{node.lineno}: log call passes {ast.unparse(part)}")
    return bad


def test_no_log_call_is_given_key_material() -> None:
    bad = [
        line
        for path in source_files()
        for line in secrets_passed_to_logs(path.read_text(encoding="utf-8"), str(path))
    ]
    assert bad == []


@pytest.mark.parametrize(
    "source",
    [
        "log.info('key %s', pair.private.hex())\n",
        "_log.warning('creds: %r', self._creds)\n",
        "self.log.debug('chain %s', state.chain_key)\n",
        "logger.error('x', extra={'k': root_key})\n",
    ],
)
def test_checker_notices_key_material_in_a_log_call(source: str) -> None:
    assert secrets_passed_to_logs(source, "f.py") != []


def test_checker_lets_plain_log_calls_through() -> None:
    ok = (
        "log.info('identity key of %s changed', addr)\nlog.warning('%s', exc)\n"
        "log.info('closed: %s %s', frame.code, self._state)\n"
    )
    assert secrets_passed_to_logs(ok, "f.py") == []
