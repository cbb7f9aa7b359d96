// Signal parties for pairwise cross-tests: each party is a Baileys libsignal repository
// (makeLibSignalRepository) over an in-memory key store wrapped with
// addTransactionCapability, exactly as a Baileys app runs it (interop.md §6).
//
// `parties` is exported so other ops files (group sender keys) can drive the same parties.
import { createRequire } from 'node:module'
import { BufferJSON, addTransactionCapability, getNextPreKeys, initAuthCreds } from 'baileys'
import { makeLibSignalRepository } from 'baileys/lib/Signal/libsignal.js'

// Deterministic key pairs for byte-for-byte comparisons: while `keyQueue` is not empty,
// libsignal's curve.generateKeyPair (which Baileys' own key generation also calls) hands
// out the queued pairs in order instead of fresh ones.
const require = createRequire(import.meta.url)
const curve = require('libsignal/src/curve.js')
const originalGenerateKeyPair = curve.generateKeyPair
const keyQueue = []
curve.generateKeyPair = function (...args) {
	if (keyQueue.length) {
		const pair = keyQueue.shift()
		return {
			privKey: Buffer.from(pair.private),
			pubKey: Buffer.concat([Buffer.from([5]), Buffer.from(pair.public)])
		}
	}
	return originalGenerateKeyPair.apply(this, args)
}

const silent = {
	level: 'silent',
	child() {
		return silent
	},
	trace() {},
	debug() {},
	info() {},
	warn() {},
	error() {}
}

export const parties = new Map()
let nextParty = 1

function memoryKeyStore() {
	const data = {}
	return {
		data,
		async get(type, ids) {
			const bucket = data[type] ?? {}
			const out = {}
			for (const id of ids) {
				if (bucket[id] !== undefined && bucket[id] !== null) out[id] = bucket[id]
			}
			return out
		},
		async set(changes) {
			for (const [type, values] of Object.entries(changes)) {
				data[type] ??= {}
				for (const [id, value] of Object.entries(values)) {
					if (value === null || value === undefined) delete data[type][id]
					else data[type][id] = value
				}
			}
		}
	}
}

/** Make a party; `creds_json` (Baileys creds.json text) reuses existing credentials. */
export function makeParty(credsJson) {
	const creds = credsJson ? JSON.parse(credsJson, BufferJSON.reviver) : initAuthCreds()
	const store = memoryKeyStore()
	const keys = addTransactionCapability(store, silent, { maxCommitRetries: 1, delayBetweenTriesMs: 0 })
	const repo = makeLibSignalRepository({ creds, keys }, silent)
	const id = nextParty++
	const party = { id, creds, store, keys, repo }
	parties.set(id, party)
	return party
}

export function getParty(id) {
	const party = parties.get(id)
	if (!party) throw new Error(`no party ${id}`)
	return party
}

function prefixed(pub) {
	return Buffer.concat([Buffer.from([5]), Buffer.from(pub)])
}

export const ops = {
	async party_new({ creds_json } = {}) {
		const p = makeParty(creds_json)
		return {
			party: p.id,
			registrationId: p.creds.registrationId,
			identityKey: prefixed(p.creds.signedIdentityKey.public),
			identityPrivate: Buffer.from(p.creds.signedIdentityKey.private),
			signedPreKey: {
				keyId: p.creds.signedPreKey.keyId,
				public: Buffer.from(p.creds.signedPreKey.keyPair.public),
				private: Buffer.from(p.creds.signedPreKey.keyPair.private),
				signature: Buffer.from(p.creds.signedPreKey.signature)
			}
		}
	},
	// Queue key pairs ({private, public}, 32 bytes each) for the next generateKeyPair calls;
	// `replace` drops what is still queued first.
	async queue_key_pairs({ pairs, replace }) {
		if (replace) keyQueue.length = 0
		keyQueue.push(...pairs)
		return keyQueue.length
	},
	async party_delete({ party }) {
		return parties.delete(party)
	},
	// A bundle as the server would hand it out: the next one-time pre-key, unless no_prekey.
	async party_bundle({ party, no_prekey }) {
		const p = getParty(party)
		const bundle = {
			registrationId: p.creds.registrationId,
			identityKey: prefixed(p.creds.signedIdentityKey.public),
			signedPreKey: {
				keyId: p.creds.signedPreKey.keyId,
				publicKey: prefixed(p.creds.signedPreKey.keyPair.public),
				signature: Buffer.from(p.creds.signedPreKey.signature)
			}
		}
		if (!no_prekey) {
			const { update, preKeys } = await getNextPreKeys({ creds: p.creds, keys: p.keys }, 1)
			Object.assign(p.creds, update)
			const keyId = Math.max(...Object.keys(preKeys).map(Number))
			bundle.preKey = { keyId, publicKey: prefixed(preKeys[keyId].public) }
			// Not part of a bundle: lets a test build a wamd twin of this party.
			bundle.preKeyPrivate = Buffer.from(preKeys[keyId].private)
		}
		return bundle
	},
	async party_inject({ party, jid, bundle }) {
		const p = getParty(party)
		await p.repo.injectE2ESession({ jid, session: bundle })
		return true
	},
	async party_encrypt({ party, jid, data }) {
		const p = getParty(party)
		const { type, ciphertext } = await p.repo.encryptMessage({ jid, data })
		return { type, ciphertext }
	},
	async party_decrypt({ party, jid, type, ciphertext }) {
		const p = getParty(party)
		return Buffer.from(await p.repo.decryptMessage({ jid, type, ciphertext }))
	},
	// Run many encrypts in one call (for long conversations): returns [{type, ciphertext}].
	async party_encrypt_many({ party, jid, messages }) {
		const p = getParty(party)
		const out = []
		for (const data of messages) out.push(await p.repo.encryptMessage({ jid, data }))
		return out
	},
	// Decrypt many in one call; each result is {ok, plaintext} or {ok: false, error}.
	async party_decrypt_many({ party, jid, items }) {
		const p = getParty(party)
		const out = []
		for (const { type, ciphertext } of items) {
			try {
				out.push({ ok: true, plaintext: Buffer.from(await p.repo.decryptMessage({ jid, type, ciphertext })) })
			} catch (err) {
				out.push({ ok: false, error: String(err?.message ?? err) })
			}
		}
		return out
	},
	// The session record for jid as libsignal-node's JSON text (what Baileys writes), or null.
	async party_session_json({ party, jid }) {
		const p = getParty(party)
		const addr = p.repo.jidToSignalProtocolAddress(jid)
		const rec = p.store.data.session?.[addr]
		return rec ? JSON.stringify(rec) : null
	},
	async party_set_session_json({ party, jid, json }) {
		const p = getParty(party)
		const addr = p.repo.jidToSignalProtocolAddress(jid)
		await p.store.set({ session: { [addr]: json === null ? null : JSON.parse(json) } })
		return true
	},
	// Put raw keys into the store: `data_json` is {type: {id: value}} in BufferJSON form.
	async party_set_keys({ party, data_json }) {
		const p = getParty(party)
		await p.store.set(JSON.parse(data_json, BufferJSON.reviver))
		return true
	},
	async party_has_pre_key({ party, id }) {
		const p = getParty(party)
		return Boolean(p.store.data['pre-key']?.[String(id)])
	}
}
