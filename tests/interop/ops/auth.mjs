// Auth folders as Baileys handles them: useMultiFileAuthState read and written by real
// Baileys, and a libsignal repository running on such a folder (interop.md §2).
//
// Every op opens the folder afresh with useMultiFileAuthState, so what it sees is what is
// on disk, and what it changes is on disk when the op returns.
import {
	BufferJSON,
	Curve,
	addTransactionCapability,
	initAuthCreds,
	proto,
	useMultiFileAuthState
} from 'baileys'
import { makeLibSignalRepository } from 'baileys/lib/Signal/libsignal.js'

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

async function openFolder(folder) {
	const { state, saveCreds } = await useMultiFileAuthState(folder)
	const keys = addTransactionCapability(state.keys, silent, { maxCommitRetries: 1, delayBetweenTriesMs: 0 })
	const repo = makeLibSignalRepository({ creds: state.creds, keys }, silent)
	return { state, saveCreds, keys, repo }
}

function prefixed(pub) {
	return Buffer.concat([Buffer.from([5]), Buffer.from(pub)])
}

const text = value => JSON.stringify(value, BufferJSON.replacer)

// Receivers of group messages (in memory), by name.
const receivers = new Map()

function memoryKeys() {
	const data = {}
	return {
		async get(type, ids) {
			const out = {}
			for (const id of ids) if (data[type]?.[id] != null) out[id] = data[type][id]
			return out
		},
		async set(changes) {
			for (const [type, values] of Object.entries(changes)) {
				data[type] ??= {}
				for (const [id, value] of Object.entries(values)) {
					if (value == null) delete data[type][id]
					else data[type][id] = value
				}
			}
		}
	}
}

export const ops = {
	// JSON.parse with BufferJSON.reviver, then JSON.stringify with the replacer: what
	// Baileys writes back after reading each text (null where it cannot parse it).
	async auth_buffer_json_resave({ texts }) {
		return texts.map(t => {
			try {
				return JSON.stringify(JSON.parse(t, BufferJSON.reviver), BufferJSON.replacer)
			} catch {
				return null
			}
		})
	},

	// What Baileys loads from a folder: creds and the asked-for keys, each as the JSON text
	// Baileys itself would write for the loaded value.
	async auth_folder_read({ folder, keys = {} }) {
		const { state } = await useMultiFileAuthState(folder)
		const values = {}
		for (const [type, ids] of Object.entries(keys)) {
			const got = await state.keys.get(type, ids)
			values[type] = {}
			for (const id of ids) values[type][id] = got[id] == null ? null : text(got[id])
		}
		return {
			creds: text(state.creds),
			identity_public: Buffer.from(state.creds.signedIdentityKey.public),
			registration_id: state.creds.registrationId,
			me: state.creds.me?.id ?? null,
			values
		}
	},

	// Baileys fills a fresh folder with keys of every category, made the way Baileys makes
	// them: a session and identity key from injectE2ESession + encrypt, our sender key from a
	// group encrypt, protobuf app-state keys, and plain values for the rest.
	async auth_folder_make({ folder, me, peer, group }) {
		const f = await openFolder(folder)
		f.state.creds.me = { id: me, name: 'Oracle' }
		const peerCreds = initAuthCreds()
		const peerPreKey = Curve.generateKeyPair()
		await f.repo.injectE2ESession({
			jid: peer,
			session: {
				registrationId: peerCreds.registrationId,
				identityKey: prefixed(peerCreds.signedIdentityKey.public),
				signedPreKey: {
					keyId: peerCreds.signedPreKey.keyId,
					publicKey: prefixed(peerCreds.signedPreKey.keyPair.public),
					signature: Buffer.from(peerCreds.signedPreKey.signature)
				},
				preKey: { keyId: 31, publicKey: prefixed(peerPreKey.public) }
			}
		})
		await f.repo.encryptMessage({ jid: peer, data: Buffer.from('hello peer') })
		const { senderKeyDistributionMessage } = await f.repo.encryptGroupMessage({
			group,
			meId: me,
			data: Buffer.from('hello group')
		})
		const preKeys = {}
		for (let id = 1; id <= 3; id++) preKeys[id] = Curve.generateKeyPair()
		const appKey = proto.Message.AppStateSyncKeyData.fromObject({
			keyData: Buffer.alloc(32, 9),
			fingerprint: { rawId: 7, currentIndex: 2, deviceIndexes: [0, 2] },
			timestamp: 1700000000123
		})
		await f.state.keys.set({
			'pre-key': preKeys,
			'sender-key-memory': { [group]: { [peer]: true } },
			'app-state-sync-key': { 'AAAAAQ/x': appKey },
			'app-state-sync-version': {
				regular_low: {
					version: 4,
					hash: Buffer.alloc(128, 3),
					indexValueMap: { 'aW5kZXg=': { valueMac: Buffer.alloc(32, 4) } }
				}
			},
			'lid-mapping': { 15551234567: '987654321', '987654321_reverse': '15551234567' },
			'device-list': { 15551234567: ['0', '3'] },
			tctoken: {
				'15551234567@s.whatsapp.net': { token: Buffer.from('tok'), timestamp: '1700000000' }
			},
			'identity-key': { '987654321_1.2': prefixed(Curve.generateKeyPair().public) }
		})
		f.state.creds.nextPreKeyId = 4
		f.state.creds.platform = 'oracle'
		await f.saveCreds()
		return { skdm: Buffer.from(senderKeyDistributionMessage) }
	},

	async auth_folder_encrypt({ folder, jid, data }) {
		const f = await openFolder(folder)
		const { type, ciphertext } = await f.repo.encryptMessage({ jid, data })
		return { type, ciphertext: Buffer.from(ciphertext) }
	},

	async auth_folder_decrypt({ folder, jid, type, ciphertext }) {
		const f = await openFolder(folder)
		return Buffer.from(await f.repo.decryptMessage({ jid, type, ciphertext }))
	},

	async auth_folder_group_encrypt({ folder, group, me, data }) {
		const f = await openFolder(folder)
		const r = await f.repo.encryptGroupMessage({ group, meId: me, data })
		return { ciphertext: Buffer.from(r.ciphertext), skdm: Buffer.from(r.senderKeyDistributionMessage) }
	},

	async auth_folder_group_decrypt({ folder, group, author, ciphertext }) {
		const f = await openFolder(folder)
		return Buffer.from(await f.repo.decryptGroupMessage({ group, authorJid: author, msg: ciphertext }))
	},

	// An in-memory group member that learns a sender key from its distribution message.
	async auth_receiver_new({ name, group, author, skdm }) {
		const keys = addTransactionCapability(memoryKeys(), silent, { maxCommitRetries: 1, delayBetweenTriesMs: 0 })
		const repo = makeLibSignalRepository({ creds: initAuthCreds(), keys }, silent)
		await repo.processSenderKeyDistributionMessage({
			item: { groupId: group, axolotlSenderKeyDistributionMessage: skdm },
			authorJid: author
		})
		receivers.set(name, repo)
		return true
	},

	async auth_receiver_decrypt({ name, group, author, ciphertext }) {
		const repo = receivers.get(name)
		if (!repo) throw new Error(`no receiver ${name}`)
		return Buffer.from(await repo.decryptGroupMessage({ group, authorJid: author, msg: ciphertext }))
	}
}
