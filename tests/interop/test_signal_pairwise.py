"""Pairwise Signal against Baileys (libsignal-node) through the oracle, both directions."""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Oracle
from tests.unit.signal.party import PyParty
from wamd.crypto import KeyPair
from wamd.errors import InvalidMessageError, InvalidSignatureError
from wamd.signal.keys import PreKeyBundle, SignedPreKey
from wamd.signal.session_record import SessionRecord

pytestmark = pytest.mark.interop

PY_JID = "1111111111:0@s.whatsapp.net"
PY_ADDR = "1111111111.0"
NODE_JID = "2222222222:3@s.whatsapp.net"
NODE_ADDR = "2222222222.3"


@dataclass
class NodeParty:
    """A Baileys party in the oracle."""

    oracle: Oracle
    id: int
    info: dict[str, Any]

    @classmethod
    def new(cls, oracle: Oracle, creds_json: str | None = None) -> NodeParty:
        info = oracle.call("party_new", creds_json=creds_json)
        return cls(oracle, info["party"], info)

    def bundle(self, with_pre_key: bool = True) -> PreKeyBundle:
        b = self.oracle.call("party_bundle", party=self.id, no_prekey=not with_pre_key)
        pk = b.get("preKey")
        return PreKeyBundle(
            b["registrationId"],
            b["identityKey"],
            b["signedPreKey"]["keyId"],
            b["signedPreKey"]["publicKey"],
            b["signedPreKey"]["signature"],
            None if pk is None else pk["keyId"],
            None if pk is None else pk["publicKey"],
        )

    def inject(self, jid: str, bundle: PreKeyBundle) -> None:
        session: dict[str, Any] = {
            "registrationId": bundle.registration_id,
            "identityKey": bundle.identity_key,
            "signedPreKey": {
                "keyId": bundle.signed_pre_key_id,
                "publicKey": bundle.signed_pre_key_public,
                "signature": bundle.signed_pre_key_signature,
            },
        }
        if bundle.pre_key_id is not None:
            session["preKey"] = {"keyId": bundle.pre_key_id, "publicKey": bundle.pre_key_public}
        self.oracle.call("party_inject", party=self.id, jid=jid, bundle=session)

    def encrypt(self, jid: str, data: bytes) -> tuple[str, bytes]:
        r = self.oracle.call("party_encrypt", party=self.id, jid=jid, data=data)
        return r["type"], r["ciphertext"]

    def encrypt_many(self, jid: str, messages: list[bytes]) -> list[tuple[str, bytes]]:
        r = self.oracle.call("party_encrypt_many", party=self.id, jid=jid, messages=messages)
        return [(x["type"], x["ciphertext"]) for x in r]

    def decrypt(self, jid: str, kind: str, body: bytes) -> bytes:
        out: bytes = self.oracle.call(
            "party_decrypt", party=self.id, jid=jid, type=kind, ciphertext=body
        )
        return out

    def decrypt_many(self, jid: str, items: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        payload = [{"type": k, "ciphertext": b} for k, b in items]
        out: list[dict[str, Any]] = self.oracle.call(
            "party_decrypt_many", party=self.id, jid=jid, items=payload
        )
        return out

    def session_json(self, jid: str) -> str | None:
        out: str | None = self.oracle.call("party_session_json", party=self.id, jid=jid)
        return out

    def set_session_json(self, jid: str, text: str) -> None:
        self.oracle.call("party_set_session_json", party=self.id, jid=jid, json=text)

    def signed_pre_key(self) -> SignedPreKey:
        s = self.info["signedPreKey"]
        return SignedPreKey(s["keyId"], KeyPair(s["private"], s["public"]), s["signature"])

    def identity(self) -> KeyPair:
        return KeyPair(self.info["identityPrivate"], self.info["identityKey"][1:])


def _buf(b: bytes) -> dict[str, str]:
    return {"type": "Buffer", "data": base64.b64encode(b).decode()}


def creds_json_for(party: PyParty) -> str:
    """Baileys creds.json text carrying a Python party's identity (for handing sessions over)."""
    assert party.signed_pre_key is not None
    spk = party.signed_pre_key
    kp = {"private": _buf(party.identity.private), "public": _buf(party.identity.public)}
    return json.dumps(
        {
            "signedIdentityKey": kp,
            "noiseKey": kp,
            "signedPreKey": {
                "keyPair": {
                    "private": _buf(spk.key_pair.private),
                    "public": _buf(spk.key_pair.public),
                },
                "signature": _buf(spk.signature),
                "keyId": spk.key_id,
            },
            "registrationId": party.registration_id,
            "nextPreKeyId": 1000,
            "firstUnuploadedPreKeyId": 1000,
        }
    )


def _msg(i: int, who: str) -> bytes:
    return f"{who} message {i} ".encode() * (1 + i % 5)


# -- session setup, each way --------------------------------------------------------------


@pytest.mark.parametrize("with_pre_key", [True, False], ids=["one-time-pre-key", "no-pre-key"])
def test_node_starts_from_python_bundle(oracle: Oracle, with_pre_key: bool) -> None:
    py, node = PyParty(), NodeParty.new(oracle)
    node.inject(PY_JID, py.bundle(with_pre_key))
    kind, body = node.encrypt(PY_JID, b"hello from node")
    assert kind == "pkmsg"
    assert py.decrypt(NODE_ADDR, kind, body) == b"hello from node"
    assert py.pre_keys == {}
    kind2, body2 = node.encrypt(PY_JID, b"still unanswered")
    assert kind2 == "pkmsg"
    assert py.decrypt(NODE_ADDR, kind2, body2) == b"still unanswered"
    kind3, body3 = py.encrypt(NODE_ADDR, b"reply from python")
    assert kind3 == "msg"
    assert node.decrypt(PY_JID, kind3, body3) == b"reply from python"
    kind4, body4 = node.encrypt(PY_JID, b"now a msg")
    assert kind4 == "msg"
    assert py.decrypt(NODE_ADDR, kind4, body4) == b"now a msg"


@pytest.mark.parametrize("with_pre_key", [True, False], ids=["one-time-pre-key", "no-pre-key"])
def test_python_starts_from_node_bundle(oracle: Oracle, with_pre_key: bool) -> None:
    py, node = PyParty(), NodeParty.new(oracle)
    bundle = node.bundle(with_pre_key)
    py.inject(NODE_ADDR, bundle)
    first = py.encrypt(NODE_ADDR, b"hello from python")
    second = py.encrypt(NODE_ADDR, b"second before any answer")
    assert first[0] == second[0] == "pkmsg"
    assert node.decrypt(PY_JID, *first) == b"hello from python"
    assert node.decrypt(PY_JID, *second) == b"second before any answer"
    if with_pre_key:
        assert not oracle.call("party_has_pre_key", party=node.id, id=bundle.pre_key_id)
    reply = node.encrypt(PY_JID, b"reply from node")
    assert reply[0] == "msg"
    assert py.decrypt(NODE_ADDR, *reply) == b"reply from node"
    third = py.encrypt(NODE_ADDR, b"third")
    assert third[0] == "msg"
    assert node.decrypt(PY_JID, *third) == b"third"


def test_bad_signed_pre_key_signature_is_refused_though_baileys_accepts_it(
    oracle: Oracle,
) -> None:
    node = NodeParty.new(oracle)
    good = node.bundle()
    sig = bytearray(good.signed_pre_key_signature)
    sig[5] ^= 0x01
    bad = PreKeyBundle(
        good.registration_id,
        good.identity_key,
        good.signed_pre_key_id,
        good.signed_pre_key_public,
        bytes(sig),
        good.pre_key_id,
        good.pre_key_public,
    )
    py = PyParty()
    with pytest.raises(InvalidSignatureError):
        py.inject(NODE_ADDR, bad)
    assert NODE_ADDR not in py.sessions
    # libsignal-node skips the check: the same bundle gives it a session.
    other = NodeParty.new(oracle)
    other.inject(NODE_JID, bad)
    assert other.session_json(NODE_JID) is not None


# -- long conversations ---------------------------------------------------------------------


def _start(oracle: Oracle, python_first: bool) -> tuple[PyParty, NodeParty]:
    py, node = PyParty(), NodeParty.new(oracle)
    if python_first:
        py.inject(NODE_ADDR, node.bundle())
    else:
        node.inject(PY_JID, py.bundle())
    return py, node


@pytest.mark.parametrize("python_first", [True, False], ids=["py-starts", "node-starts"])
def test_long_alternating_and_one_sided_runs(oracle: Oracle, python_first: bool) -> None:
    py, node = _start(oracle, python_first)
    rng = random.Random(4)
    turns = 0
    for block in range(40):
        run = 1 if block < 20 else rng.randint(1, 12)
        if (block % 2 == 0) == python_first:
            for i in range(run):
                data = _msg(turns + i, "py")
                kind, body = py.encrypt(NODE_ADDR, data)
                assert node.decrypt(PY_JID, kind, body) == data
        else:
            msgs = [_msg(turns + i, "node") for i in range(run)]
            for data, (kind, body) in zip(msgs, node.encrypt_many(PY_JID, msgs), strict=True):
                assert py.decrypt(NODE_ADDR, kind, body) == data
        turns += run
    record = py.record(NODE_ADDR)
    state = record.open_session()
    assert state is not None and state.pending_pre_key is None
    assert len(state.chains) <= 6


def test_out_of_order_and_dropped_messages_both_ways(oracle: Oracle) -> None:
    py, node = _start(oracle, python_first=True)
    # establish
    assert node.decrypt(PY_JID, *py.encrypt(NODE_ADDR, b"hi")) == b"hi"
    rng = random.Random(7)
    for _round in range(6):
        msgs = [_msg(i, "node") for i in range(12)]
        sent = list(zip(msgs, node.encrypt_many(PY_JID, msgs), strict=True))
        dropped = set(rng.sample(range(12), 3))
        order = [i for i in range(12) if i not in dropped]
        rng.shuffle(order)
        for i in order:
            data, (kind, body) = sent[i]
            assert py.decrypt(NODE_ADDR, kind, body) == data
        py_msgs = [_msg(i, "py") for i in range(10)]
        py_sent = [py.encrypt(NODE_ADDR, m) for m in py_msgs]
        order = rng.sample(range(10), 8)
        results = node.decrypt_many(PY_JID, [py_sent[i] for i in order])
        for i, res in zip(order, results, strict=True):
            assert res["ok"], res
            assert res["plaintext"] == py_msgs[i]


_schedule = st.lists(
    st.tuples(
        st.booleans(),  # who sends: True = python
        st.integers(min_value=1, max_value=6),  # how many
        st.randoms(use_true_random=False),  # delivery order
        st.integers(min_value=0, max_value=2),  # how many to drop
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(python_first=st.booleans(), schedule=_schedule)
def test_random_schedules_every_delivered_message_decrypts(
    oracle: Oracle, python_first: bool, schedule: list[tuple[bool, int, random.Random, int]]
) -> None:
    py, node = _start(oracle, python_first)
    # The responder can only send once the initiator's first message arrived.
    if python_first:
        assert node.decrypt(PY_JID, *py.encrypt(NODE_ADDR, b"first")) == b"first"
    else:
        assert py.decrypt(NODE_ADDR, *node.encrypt(PY_JID, b"first")) == b"first"
    for py_sends, count, rng, drop in schedule:
        if py_sends:
            msgs = [_msg(i, "py") for i in range(count)]
            sent = [py.encrypt(NODE_ADDR, m) for m in msgs]
        else:
            msgs = [_msg(i, "node") for i in range(count)]
            sent = node.encrypt_many(PY_JID, msgs)
        keep = sorted(rng.sample(range(count), max(1, count - drop)))
        rng.shuffle(keep)
        if py_sends:
            results = node.decrypt_many(PY_JID, [sent[i] for i in keep])
            for i, res in zip(keep, results, strict=True):
                assert res["ok"], res
                assert res["plaintext"] == msgs[i]
        else:
            for i in keep:
                assert py.decrypt(NODE_ADDR, *sent[i]) == msgs[i]


# -- records: the JSON form both ways -------------------------------------------------------


def test_node_records_reload_in_python_byte_for_byte(oracle: Oracle) -> None:
    py, node = _start(oracle, python_first=False)
    rng = random.Random(11)
    for turn in range(30):
        if turn % 3 != 2:
            msgs = [_msg(i, "node") for i in range(rng.randint(1, 4))]
            sent = node.encrypt_many(PY_JID, msgs)
            for i in rng.sample(range(len(sent)), len(sent)):
                if turn == 0 or rng.random() < 0.8:
                    py.decrypt(NODE_ADDR, *sent[i])
        else:
            node.decrypt(PY_JID, *py.encrypt(NODE_ADDR, _msg(turn, "py")))
        text = node.session_json(PY_JID)
        assert text is not None
        record = SessionRecord.from_libsignal_json(json.loads(text))
        assert json.dumps(record.to_libsignal_json(), separators=(",", ":")) == text
        assert SessionRecord.deserialize(record.serialize()) == record


@pytest.mark.parametrize("python_first", [True, False], ids=["py-starts", "node-starts"])
def test_python_record_hands_over_to_baileys_and_back(oracle: Oracle, python_first: bool) -> None:
    py, node = _start(oracle, python_first)
    for i in range(30):  # enough ratchet steps for wamd to have pruned old chains
        if python_first:
            assert node.decrypt(PY_JID, *py.encrypt(NODE_ADDR, _msg(i, "py"))) == _msg(i, "py")
        assert py.decrypt(NODE_ADDR, *node.encrypt(PY_JID, _msg(i, "n"))) == _msg(i, "n")
        if not python_first:
            assert node.decrypt(PY_JID, *py.encrypt(NODE_ADDR, _msg(i, "py"))) == _msg(i, "py")
    record = py.record(NODE_ADDR)
    node_text = node.session_json(PY_JID)
    assert node_text is not None
    node_chains = len(next(iter(json.loads(node_text)["_sessions"].values()))["_chains"])
    state = record.open_session()
    assert state is not None and len(state.chains) <= 6 < node_chains
    # Python's (pruned) record, as JSON, goes to a Baileys party with Python's credentials...
    twin = NodeParty.new(oracle, creds_json_for(py))
    text = json.dumps(py.record(NODE_ADDR).to_libsignal_json(), separators=(",", ":"))
    twin.set_session_json(NODE_JID, text)
    kind, body = twin.encrypt(NODE_JID, b"from baileys with python's session")
    assert node.decrypt(PY_JID, kind, body) == b"from baileys with python's session"
    assert twin.decrypt(NODE_JID, *node.encrypt(PY_JID, b"back to the twin")) == b"back to the twin"
    # ...and the twin's record comes back to Python, which carries on.
    back = twin.session_json(NODE_JID)
    assert back is not None
    py.sessions[NODE_ADDR] = SessionRecord.from_libsignal_json(json.loads(back)).serialize()
    assert node.decrypt(PY_JID, *py.encrypt(NODE_ADDR, b"python again")) == b"python again"
    assert py.decrypt(NODE_ADDR, *node.encrypt(PY_JID, b"and node")) == b"and node"


# -- archived sessions across implementations ------------------------------------------------


def test_baileys_restarts_the_session_and_old_messages_still_decrypt_in_python(
    oracle: Oracle,
) -> None:
    py, node = _start(oracle, python_first=False)
    assert py.decrypt(NODE_ADDR, *node.encrypt(PY_JID, b"one")) == b"one"
    assert node.decrypt(PY_JID, *py.encrypt(NODE_ADDR, b"two")) == b"two"
    in_flight = node.encrypt_many(PY_JID, [b"old a", b"old b"])
    node.inject(PY_JID, py.bundle())  # Baileys starts over from a fresh bundle
    fresh = node.encrypt(PY_JID, b"new session")
    assert fresh[0] == "pkmsg"
    assert py.decrypt(NODE_ADDR, *fresh) == b"new session"
    record = py.record(NODE_ADDR)
    assert len(record.sessions) == 2 and sum(s.is_open for s in record.sessions.values()) == 1
    for (kind, body), text in zip(in_flight, [b"old a", b"old b"], strict=True):
        assert py.decrypt(NODE_ADDR, kind, body) == text
    assert node.decrypt(PY_JID, *py.encrypt(NODE_ADDR, b"on the new one")) == b"on the new one"


def test_python_restarts_the_session_and_old_messages_still_decrypt_in_baileys(
    oracle: Oracle,
) -> None:
    py, node = _start(oracle, python_first=True)
    assert node.decrypt(PY_JID, *py.encrypt(NODE_ADDR, b"one")) == b"one"
    assert py.decrypt(NODE_ADDR, *node.encrypt(PY_JID, b"two")) == b"two"
    in_flight = [py.encrypt(NODE_ADDR, b"old %d" % i) for i in range(2)]
    py.inject(NODE_ADDR, node.bundle())
    fresh = py.encrypt(NODE_ADDR, b"new session")
    assert fresh[0] == "pkmsg"
    assert node.decrypt(PY_JID, *fresh) == b"new session"
    results = node.decrypt_many(PY_JID, in_flight)
    assert [r["plaintext"] for r in results] == [b"old 0", b"old 1"]
    # A libsignal-node bug, not ours: it tries each old message on its newest session
    # first, and that failed attempt still steps and stores the newest session's ratchet.
    # Its next reply is then undecryptable by anyone (two Baileys parties fail the same
    # way). wamd tries sessions on copies, so in the mirrored role it replies fine (the
    # test above). This pins the behaviour so a fixed Baileys shows up here.
    with pytest.raises(InvalidMessageError):
        py.decrypt(NODE_ADDR, *node.encrypt(PY_JID, b"reply"))
