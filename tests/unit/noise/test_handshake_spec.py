"""Our initiator against a responder written here from the spec steps alone.

The responder below follows fake-server.md §1.2 / protocol.md §1.4 line by line with
hashlib, hmac, ``cryptography`` and the axolotl signer (no wamd code), so a shared
misreading of the key schedule inside wamd.noise cannot make this test pass.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random

import axolotl_curve25519
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wamd._proto.handshake_pb2 import CertChain, HandshakeMessage
from wamd.crypto import KeyPair
from wamd.noise import FrameReader, NoiseInitiator

NOW = 1_764_000_000


def _hkdf(ikm: bytes, salt: bytes, length: int) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def _x25519_pair() -> tuple[X25519PrivateKey, bytes]:
    priv = X25519PrivateKey.generate()
    return priv, priv.public_key().public_bytes_raw()


def _dh(priv: X25519PrivateKey, pub: bytes) -> bytes:
    return priv.exchange(X25519PublicKey.from_public_bytes(pub))


def _iv(n: int) -> bytes:
    return b"\x00" * 8 + n.to_bytes(4, "big")


class SpecResponder:
    """The server side of the handshake, step by step as the spec tables give it."""

    def __init__(self, static: X25519PrivateKey, chain: bytes) -> None:
        self.static = static
        self.static_pub = static.public_key().public_bytes_raw()
        self.chain = chain
        self.h = self.ck = self.k = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0"
        self.n = 0
        self.mix_hash(b"WA\x06\x03")  # step 1
        self.read_key = self.write_key = b""

    def mix_hash(self, data: bytes) -> None:
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm: bytes) -> None:
        out = _hkdf(ikm, self.ck, 64)
        self.ck, self.k, self.n = out[:32], out[32:], 0

    def enc(self, pt: bytes) -> bytes:
        ct = AESGCM(self.k).encrypt(_iv(self.n), pt, self.h)
        self.n += 1
        self.mix_hash(ct)
        return ct

    def dec(self, ct: bytes) -> bytes:
        pt = AESGCM(self.k).decrypt(_iv(self.n), ct, self.h)
        self.n += 1
        self.mix_hash(ct)
        return pt

    def hello(self, frame: bytes) -> bytes:
        e_c = HandshakeMessage.FromString(frame).clientHello.ephemeral  # step 2
        assert len(e_c) == 32
        self.mix_hash(e_c)
        self.e_s, e_s_pub = _x25519_pair()  # step 3
        self.mix_hash(e_s_pub)
        self.mix_key(_dh(self.e_s, e_c))  # step 4
        static_ct = self.enc(self.static_pub)  # step 5
        assert self.n == 1 and len(static_ct) == 48
        self.mix_key(_dh(self.static, e_c))  # step 6
        cert_ct = self.enc(self.chain)  # step 7
        reply = HandshakeMessage(  # step 8
            serverHello=HandshakeMessage.ServerHello(
                ephemeral=e_s_pub, static=static_ct, payload=cert_ct
            )
        )
        body = reply.SerializeToString()
        return len(body).to_bytes(3, "big") + body

    def finish(self, frame: bytes) -> tuple[bytes, bytes]:
        msg = HandshakeMessage.FromString(frame).clientFinish  # step 9
        assert self.n == 1  # step 10 decrypts with nonce 1
        client_static = self.dec(msg.static)
        self.mix_key(_dh(self.e_s, client_static))  # step 11
        payload = self.dec(msg.payload)  # step 12
        out = _hkdf(b"", self.ck, 64)  # step 13
        self.read_key, self.write_key = out[:32], out[32:]
        return client_static, payload


def _spec_chain(static_pub: bytes) -> tuple[bytes, bytes]:
    """A chain made with protobuf and the axolotl signer directly; returns (chain, root)."""

    def keypair() -> tuple[bytes, bytes]:
        priv = axolotl_curve25519.generatePrivateKey(os.urandom(32))
        return priv, axolotl_curve25519.generatePublicKey(priv)

    def details(serial: int, issuer: int, key: bytes) -> bytes:
        return CertChain.NoiseCertificate.Details(
            serial=serial, issuerSerial=issuer, key=key, notBefore=NOW - 1, notAfter=NOW + 1
        ).SerializeToString()

    root_priv, root_pub = keypair()
    inter_priv, inter_pub = keypair()
    inter = details(10, 0, inter_pub)
    leaf = details(11, 10, static_pub)

    def signed(priv: bytes, data: bytes) -> CertChain.NoiseCertificate:
        sig = axolotl_curve25519.calculateSignature(os.urandom(64), priv, data)
        return CertChain.NoiseCertificate(details=data, signature=sig)

    chain = CertChain(intermediate=signed(root_priv, inter), leaf=signed(inter_priv, leaf))
    return chain.SerializeToString(), root_pub


def test_initiator_and_spec_responder_agree_on_every_key() -> None:
    for _ in range(10):
        static, static_pub = _x25519_pair()
        chain, root = _spec_chain(static_pub)
        server = SpecResponder(static, chain)
        noise_key = KeyPair.generate()
        payload = os.urandom(random.randrange(0, 400))
        initiator = NoiseInitiator()
        (hello,) = FrameReader(expect_intro=True).feed(initiator.client_hello())
        reader = FrameReader()
        (server_hello,) = reader.feed(server.hello(hello))
        done = initiator.process_server_hello(
            server_hello, noise_key, payload, now=NOW, root_key=root
        )
        assert done.server_static == static_pub
        client_static, got_payload = server.finish(done.message[3:])
        assert client_static == noise_key.public
        assert got_payload == payload
        # Transport keys: frames the initiator writes open with the spec read key, and
        # frames written with the spec write key open in the initiator, counters from 0.
        for n in range(5):
            up = done.transport.encrypt(b"up%d" % n)
            assert AESGCM(server.read_key).decrypt(_iv(n), up, None) == b"up%d" % n
            down = AESGCM(server.write_key).encrypt(_iv(n), b"down%d" % n, None)
            assert done.transport.decrypt(down) == b"down%d" % n
