// Curve25519 / XEdDSA / HKDF ops. `verify` is the real curve25519-js check; Baileys'
// own Curve.verify accepts any 64-byte signature and is exposed only to demonstrate that.
import curveJs from 'curve25519-js'
import { Curve, hkdf } from 'baileys'
import { createHash, createHmac, hkdfSync } from 'node:crypto'

export const ops = {
	async keypair() {
		const kp = Curve.generateKeyPair()
		return { private: kp.private, public: kp.public }
	},
	async sign({ private: priv, message }) {
		return Buffer.from(curveJs.sign(priv, message, undefined))
	},
	async verify({ public: pub, message, signature }) {
		return curveJs.verify(pub, message, signature)
	},
	async baileys_curve_verify({ public: pub, message, signature }) {
		return Curve.verify(pub, message, signature)
	},
	async agree({ private: priv, public: pub }) {
		return Curve.sharedKey(priv, pub)
	},
	async pub_from_priv({ private: priv }) {
		const kp = curveJs.generateKeyPair(priv)
		return Buffer.from(kp.public)
	},
	// Baileys' own hkdf (whatsapp-rust-bridge) takes `info` as a string.
	async hkdf({ ikm, length, salt, info }) {
		return Buffer.from(await hkdf(ikm, length, { salt, info: info.toString('utf8') }))
	},
	async node_hkdf({ ikm, length, salt, info }) {
		return Buffer.from(hkdfSync('sha256', ikm, salt, info, length))
	},
	async sha256({ data }) {
		return createHash('sha256').update(data).digest()
	},
	async hmac_sha256({ key, data }) {
		return createHmac('sha256', key).update(data).digest()
	}
}
