// Signal parties for the sender-key (group) and SignalRepository cross-tests: each party
// is a Baileys `makeLibSignalRepository` over its own in-memory, transactional key store,
// exactly as a Baileys client runs it. Ops are prefixed `sg_` (this file's namespace).
//
// Bytes arrive as Buffers and leave as Buffers (BufferJSON on the wire).
import { addTransactionCapability, Curve, initAuthCreds } from 'baileys'
import { SenderKeyName } from 'baileys/lib/Signal/Group/sender-key-name.js'
import { makeLibSignalRepository } from 'baileys/lib/Signal/libsignal.js'
import { ProtocolAddress } from 'libsignal'

const silent = {
	level: 'silent',
	trace() {},
	debug() {},
	info() {},
	warn() {},
	error() {},
	fatal() {},
	child() {
		return silent
	}
}

// An in-memory SignalKeyStore holding values as Baileys' multi-file store hands them back.
function memoryKeys() {
	const data = {}
	return {
		data,
		async get(type, ids) {
			const out = {}
			for (const id of ids) {
				const v = data[type]?.[id]
				if (v !== undefined && v !== null) out[id] = v
			}
			return out
		},
		async set(changes) {
			for (const [type, values] of Object.entries(changes)) {
				data[type] ??= {}
				for (const [id, v] of Object.entries(values)) {
					if (v === null || v === undefined) delete data[type][id]
					else data[type][id] = v
				}
			}
		}
	}
}

// A Baileys client's Signal side: creds, transactional in-memory keys, and its repository.
export function newParty() {
	const creds = initAuthCreds()
	const raw = memoryKeys()
	const keys = addTransactionCapability(raw, silent, { maxCommitRetries: 1, delayBetweenTriesMs: 1 })
	const repo = makeLibSignalRepository({ creds, keys }, silent)
	return { creds, keys, raw, repo, nextPreKeyId: 1 }
}

const parties = new Map()
let nextParty = 1

function party(id) {
	const p = parties.get(id)
	if (!p) throw new Error(`no party ${id}`)
	return p
}

export const ops = {
	// A fresh Baileys client state; returns its id and public identity.
	async sg_party_new() {
		const p = newParty()
		const id = nextParty++
		parties.set(id, p)
		return { party: id, registrationId: p.creds.registrationId }
	},
	async sg_party_drop({ party: id }) {
		parties.get(id)?.repo.close?.()
		parties.delete(id)
		return true
	},
	// A pre-key bundle (a new one-time pre-key each call unless with_pre_key is false).
	async sg_bundle({ party: id, with_pre_key: withPreKey = true }) {
		const p = party(id)
		const { creds } = p
		const bundle = {
			registrationId: creds.registrationId,
			identityKey: Buffer.concat([Buffer.from([5]), creds.signedIdentityKey.public]),
			signedPreKey: {
				keyId: creds.signedPreKey.keyId,
				publicKey: Buffer.concat([Buffer.from([5]), creds.signedPreKey.keyPair.public]),
				signature: creds.signedPreKey.signature
			}
		}
		if (withPreKey) {
			const keyId = p.nextPreKeyId++
			const pair = Curve.generateKeyPair()
			await p.keys.set({ 'pre-key': { [keyId]: pair } })
			bundle.preKey = { keyId, publicKey: Buffer.concat([Buffer.from([5]), pair.public]) }
		}
		return bundle
	},
	// The party's own identity and signed pre-key, private parts included (for tests).
	async sg_identity({ party: id }) {
		const { creds } = party(id)
		return {
			registrationId: creds.registrationId,
			identity: { private: creds.signedIdentityKey.private, public: creds.signedIdentityKey.public },
			signedPreKey: {
				keyId: creds.signedPreKey.keyId,
				private: creds.signedPreKey.keyPair.private,
				public: creds.signedPreKey.keyPair.public,
				signature: creds.signedPreKey.signature
			}
		}
	},
	async sg_inject({ party: id, jid, bundle }) {
		await party(id).repo.injectE2ESession({ jid, session: bundle })
		return true
	},
	async sg_encrypt({ party: id, jid, data }) {
		const { type, ciphertext } = await party(id).repo.encryptMessage({ jid, data })
		return { type, ciphertext }
	},
	async sg_decrypt({ party: id, jid, type, ciphertext }) {
		return Buffer.from(await party(id).repo.decryptMessage({ jid, type, ciphertext }))
	},
	async sg_group_encrypt({ party: id, group, me, data }) {
		const r = await party(id).repo.encryptGroupMessage({ group, meId: me, data })
		return { ciphertext: Buffer.from(r.ciphertext), skdm: Buffer.from(r.senderKeyDistributionMessage) }
	},
	async sg_group_process_skdm({ party: id, group, author, skdm }) {
		await party(id).repo.processSenderKeyDistributionMessage({
			authorJid: author,
			item: { groupId: group, axolotlSenderKeyDistributionMessage: skdm }
		})
		return true
	},
	async sg_group_decrypt({ party: id, group, author, ciphertext }) {
		return Buffer.from(await party(id).repo.decryptGroupMessage({ group, authorJid: author, msg: ciphertext }))
	},
	// The stored `sender-key` value: the UTF-8 JSON blob Baileys' storeSenderKey writes.
	async sg_sender_key_export({ party: id, name }) {
		const { [name]: value } = await party(id).keys.get('sender-key', [name])
		return value ? Buffer.from(value) : null
	},
	async sg_sender_key_import({ party: id, name, data }) {
		await party(id).keys.set({ 'sender-key': { [name]: Buffer.from(data) } })
		return true
	},
	async sg_lid_mapping({ party: id, lid, pn }) {
		await party(id).repo.lidMapping.storeLIDPNMappings([{ lid, pn }])
		return true
	},
	// Baileys' address strings, to pin ours against.
	async sg_address({ jid }) {
		return addressRepo().jidToSignalProtocolAddress(jid)
	},
	async sg_sender_key_name({ group, author }) {
		const [name, device] = addressRepo().jidToSignalProtocolAddress(author).split('.')
		return new SenderKeyName(group, new ProtocolAddress(name, +device)).toString()
	}
}

let _addressRepo = null
function addressRepo() {
	if (!_addressRepo) {
		const keys = addTransactionCapability(memoryKeys(), silent, { maxCommitRetries: 1, delayBetweenTriesMs: 1 })
		_addressRepo = makeLibSignalRepository({ creds: initAuthCreds(), keys }, silent)
	}
	return _addressRepo
}
