// Pairing ops: Baileys' ClientPayload builders, QR string, pairing-code helpers and
// configureSuccessfulPairing, plus a "Baileys-like phone" built from Baileys' own proto
// and primitives, so wamd's pairing maths can be compared with what Baileys does.
// Signatures are judged only with the real curve25519-js verify (op `verify`), never
// with Baileys' Curve.verify.
import curveJs from 'curve25519-js'
import {
	aesDecryptCTR,
	aesDecryptGCM,
	aesEncryptCTR,
	aesEncryptGCM,
	buildPairingQRData,
	bytesToCrockford,
	configureSuccessfulPairing,
	Curve,
	derivePairingCodeKey,
	DisconnectReason,
	generateLoginNode,
	generateRegistrationNode,
	getCompanionPlatformId,
	getErrorCodeFromStreamError,
	hkdf,
	proto
} from 'baileys'
import { createHmac } from 'node:crypto'

function config({ browser, version, syncFullHistory, countryCode, pushName }) {
	return {
		browser: browser ?? ['Mac OS', 'Chrome', '14.4.1'],
		version: version ?? [2, 3000, 1035194821],
		syncFullHistory: syncFullHistory ?? true,
		countryCode: countryCode ?? 'US',
		pushName
	}
}

function plain(obj) {
	return proto.ADVSignedDeviceIdentity.toObject(obj, { bytes: Buffer, longs: String })
}

export const ops = {
	// Baileys' status code for a <stream:error> with these attrs and first child tag.
	async pairing_stream_error_code({ code, childTag }) {
		const attrs = code === undefined || code === null ? {} : { code }
		const content = childTag ? [{ tag: childTag, attrs: {} }] : []
		return getErrorCodeFromStreamError({ tag: 'stream:error', attrs, content }).statusCode
	},
	// Baileys' DisconnectReason table, name -> code.
	async pairing_disconnect_reasons() {
		return Object.fromEntries(Object.entries(DisconnectReason).filter(([k]) => isNaN(Number(k))))
	},
	// ClientPayload bytes for registration, from fixed keys (Baileys' generateRegistrationNode).
	async pairing_registration_payload({ registrationId, identityPub, signedPreKeyId, signedPreKeyPub, signedPreKeySig, ...cfg }) {
		const node = generateRegistrationNode(
			{
				registrationId,
				signedIdentityKey: { public: identityPub },
				signedPreKey: { keyId: signedPreKeyId, keyPair: { public: signedPreKeyPub }, signature: signedPreKeySig }
			},
			config(cfg)
		)
		return Buffer.from(proto.ClientPayload.encode(node).finish())
	},
	// ClientPayload bytes for login as `jid` (Baileys' generateLoginNode).
	async pairing_login_payload({ jid, ...cfg }) {
		return Buffer.from(proto.ClientPayload.encode(generateLoginNode(jid, config(cfg))).finish())
	},
	async pairing_qr({ ref, noisePub, identityPub, advB64, browser }) {
		return buildPairingQRData(
			ref,
			Buffer.from(noisePub).toString('base64'),
			Buffer.from(identityPub).toString('base64'),
			advB64,
			browser
		)
	},
	async pairing_platform_id({ browser }) {
		return getCompanionPlatformId(browser)
	},
	async pairing_code_key({ code, salt }) {
		return Buffer.from(await derivePairingCodeKey(code, salt))
	},
	async pairing_crockford({ data }) {
		return bytesToCrockford(data)
	},
	// The companion's code steps as Baileys performs them (socket.js generatePairingKey,
	// messages-recv.js link_code_companion_reg), with the random parts passed in.
	async pairing_wrap_ephemeral({ code, pub, salt, iv }) {
		const key = await derivePairingCodeKey(code, salt)
		return Buffer.concat([salt, iv, aesEncryptCTR(pub, key, iv)])
	},
	async pairing_companion_finish({ code, ephemeralPriv, identityPriv, identityPub, wrappedPrimary, primaryIdentityPub, random, bundleSalt, iv }) {
		const key = await derivePairingCodeKey(code, wrappedPrimary.subarray(0, 32))
		const primaryEph = aesDecryptCTR(wrappedPrimary.subarray(48, 80), key, wrappedPrimary.subarray(32, 48))
		const companionShared = Curve.sharedKey(ephemeralPriv, primaryEph)
		const bundleKey = hkdf(companionShared, 32, { salt: bundleSalt, info: 'link_code_pairing_key_bundle_encryption_key' })
		const sealed = aesEncryptGCM(Buffer.concat([identityPub, primaryIdentityPub, random]), bundleKey, iv, Buffer.alloc(0))
		const identityShared = Curve.sharedKey(identityPriv, primaryIdentityPub)
		const adv = hkdf(Buffer.concat([companionShared, identityShared, random]), 32, { info: 'adv_secret' })
		return { bundle: Buffer.concat([bundleSalt, iv, sealed]), advB64: Buffer.from(adv).toString('base64') }
	},
	// Open a key bundle with Baileys' primitives, as a phone would (to check ours).
	async pairing_open_bundle({ bundle, shared }) {
		const bundleKey = hkdf(shared, 32, { salt: bundle.subarray(0, 32), info: 'link_code_pairing_key_bundle_encryption_key' })
		return aesDecryptGCM(bundle.subarray(44), bundleKey, bundle.subarray(32, 44), Buffer.alloc(0))
	},
	// A Baileys-like phone: the pair-success <device-identity> built with Baileys' proto,
	// curve25519-js signing and node's HMAC.
	async pairing_phone_sign({ accountPriv, accountPub, companionIdentityPub, advSecret, keyIndex, rawId, timestamp }) {
		const details = proto.ADVDeviceIdentity.encode({ rawId, timestamp, keyIndex }).finish()
		const accountSignature = Buffer.from(
			curveJs.sign(accountPriv, Buffer.concat([Buffer.from([6, 0]), details, companionIdentityPub]), undefined)
		)
		const signed = proto.ADVSignedDeviceIdentity.encode({
			details,
			accountSignatureKey: accountPub,
			accountSignature
		}).finish()
		const hmac = createHmac('sha256', advSecret).update(signed).digest()
		return Buffer.from(proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish())
	},
	// Baileys' configureSuccessfulPairing on a pair-success stanza built around `deviceIdentity`.
	async pairing_configure_success({ deviceIdentity, advB64, identityPriv, identityPub, jid, lid, platform, id }) {
		const stanza = {
			tag: 'iq',
			attrs: { from: '@s.whatsapp.net', type: 'set', id, xmlns: 'md' },
			content: [
				{
					tag: 'pair-success',
					attrs: {},
					content: [
						{ tag: 'device-identity', attrs: {}, content: deviceIdentity },
						{ tag: 'platform', attrs: { name: platform } },
						{ tag: 'device', attrs: { jid, lid } }
					]
				}
			]
		}
		const { creds, reply } = configureSuccessfulPairing(stanza, {
			advSecretKey: advB64,
			signedIdentityKey: { private: identityPriv, public: identityPub },
			signalIdentities: []
		})
		const sign = reply.content[0]
		const di = sign.content[0]
		return {
			replyTag: reply.tag,
			replyAttrs: reply.attrs,
			signTag: sign.tag,
			diTag: di.tag,
			keyIndex: di.attrs['key-index'],
			replyIdentity: Buffer.from(di.content),
			account: plain(creds.account),
			me: creds.me,
			platform: creds.platform,
			signalIdentities: creds.signalIdentities.map(s => ({
				name: s.identifier.name,
				deviceId: s.identifier.deviceId,
				key: Buffer.from(s.identifierKey)
			}))
		}
	}
}
