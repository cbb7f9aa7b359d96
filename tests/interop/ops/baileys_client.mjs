// Real Baileys clients driven from Python, to prove wamd.testing.FakeServer.
//
// Each client is a makeWASocket on a useMultiFileAuthState folder, pointed at a local
// FakeServer (waWebSocketUrl) and trusting its test root (WA_CERT_DETAILS.PUBLIC_KEY).
// Ops return at once; Python polls the collected connection.update / creds.update events
// with bc_events. Every client has a hard lifetime after which it is ended, and every
// Baileys timeout is small, so nothing here can hang a test run.
import makeWASocket, { useMultiFileAuthState, WA_CERT_DETAILS, DisconnectReason } from 'baileys'
import pino from 'pino'

const clients = new Map()
const stray = [] // unhandled rejections seen while clients ran (reported by bc_events)
let nextId = 1

process.on('unhandledRejection', err => {
	stray.push(String(err?.stack ?? err).slice(0, 2000))
})

const silent = pino({ level: 'silent' })

function record(client, event) {
	event.t = Date.now()
	event.socket = client.sockets
	client.events.push(event)
}

async function openSocket(client) {
	const { state, saveCreds } = await useMultiFileAuthState(client.dir)
	client.sockets += 1
	const opts = client.options
	const sock = makeWASocket({
		waWebSocketUrl: client.url,
		auth: state,
		logger: silent,
		printQRInTerminal: false,
		browser: opts.browser ?? ['Mac OS', 'Chrome', '14.4.1'],
		connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
		defaultQueryTimeoutMs: opts.defaultQueryTimeoutMs ?? 5000,
		keepAliveIntervalMs: opts.keepAliveIntervalMs ?? 30000,
		qrTimeout: opts.qrTimeout,
		markOnlineOnConnect: opts.markOnlineOnConnect ?? true,
		syncFullHistory: false,
		shouldSyncHistoryMessage: () => false,
		fireInitQueries: opts.fireInitQueries ?? true,
		getMessage: async key => client.sent.get(key.id)
	})
	client.sock = sock
	watchMessages(client, sock)
	sock.ev.on('creds.update', async update => {
		record(client, {
			type: 'creds',
			keys: Object.keys(update).sort(),
			me: update.me ?? null,
			registered: update.registered ?? null
		})
		// Baileys' saveCreds rewrites creds.json in place (truncate, then write): remember
		// the write so ending the client can wait for it before anyone reads the folder.
		const saving = saveCreds()
		client.saving.add(saving)
		try {
			await saving
		} finally {
			client.saving.delete(saving)
		}
	})
	sock.ev.on('connection.update', update => {
		const err = update.lastDisconnect?.error
		record(client, {
			type: 'connection',
			connection: update.connection ?? null,
			qr: update.qr ?? null,
			isNewLogin: update.isNewLogin ?? null,
			receivedPendingNotifications: update.receivedPendingNotifications ?? null,
			status: err?.output?.statusCode ?? null,
			message: err ? String(err.message) : null
		})
		if (update.connection === 'close') onClose(client, sock, err?.output?.statusCode)
	})
}

// Messaging events (messages.upsert, messages.update, message-receipt.update,
// groups.upsert), reduced to plain JSON.
function textOf(message) {
	return message?.conversation ?? message?.extendedTextMessage?.text ?? null
}

function watchMessages(client, sock) {
	sock.ev.on('messages.upsert', ({ messages, type }) => {
		for (const m of messages) {
			record(client, {
				type: 'message',
				upsert: type,
				key: m.key,
				text: textOf(m.message),
				pushName: m.pushName ?? null,
				stubType: m.messageStubType ?? null,
				stubParameters: m.messageStubParameters ?? null
			})
		}
	})
	sock.ev.on('messages.update', updates => {
		for (const u of updates) {
			record(client, {
				type: 'message-update',
				key: u.key,
				status: u.update?.status ?? null,
				stubParameters: u.update?.messageStubParameters ?? null
			})
		}
	})
	sock.ev.on('message-receipt.update', updates => {
		for (const u of updates) {
			record(client, { type: 'receipt', key: u.key, receipt: u.receipt })
		}
	})
	sock.ev.on('group-participants.update', u => {
		record(client, {
			type: 'group-participants',
			id: u.id,
			action: u.action,
			participants: u.participants.map(p => (typeof p === 'string' ? p : p.id))
		})
	})
	sock.ev.on('groups.update', updates => {
		for (const g of updates) record(client, { type: 'group-update', id: g.id, subject: g.subject ?? null })
	})
	sock.ev.on('presence.update', u => {
		record(client, { type: 'presence', id: u.id, presences: u.presences })
	})
	sock.ev.on('groups.upsert', groups => {
		for (const g of groups) {
			record(client, {
				type: 'group',
				id: g.id,
				subject: g.subject,
				participants: g.participants.map(p => p.id)
			})
		}
	})
}

function onClose(client, sock, status) {
	if (client.sock !== sock) return
	client.sock = null
	const policy = client.options.reconnect ?? 'restart'
	const again =
		!client.ended &&
		(policy === 'always'
			? status !== DisconnectReason.loggedOut && status !== DisconnectReason.connectionReplaced
			: policy === 'restart' && status === DisconnectReason.restartRequired)
	if (again && client.sockets < (client.options.maxSockets ?? 10)) {
		openSocket(client).catch(err => record(client, { type: 'error', message: String(err) }))
	}
}

function endClient(client) {
	client.ended = true
	clearTimeout(client.timer)
	const sock = client.sock
	client.sock = null
	if (sock) {
		try {
			sock.end(undefined)
		} catch (err) {
			record(client, { type: 'error', message: String(err) })
		}
	}
}

// Wait (bounded) until the client's creds writes have finished.
async function settled(client) {
	// One short pause first: an update the closing socket emits lands on a later tick.
	await new Promise(resolve => setTimeout(resolve, 20))
	for (let i = 0; i < 5 && client.saving.size; i++) {
		await Promise.allSettled([...client.saving])
		await new Promise(resolve => setTimeout(resolve, 20))
	}
}

function get(id) {
	const client = clients.get(id)
	if (!client) throw new Error(`no Baileys client ${id}`)
	return client
}

export const ops = {
	// Start a client: {url, rootKey (Buffer), dir, options}. Returns its id.
	async bc_start({ url, rootKey, dir, options }) {
		WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(rootKey)
		const id = nextId++
		const client = {
			id,
			url,
			dir,
			options: options ?? {},
			events: [],
			saving: new Set(),
			sockets: 0,
			sock: null,
			ended: false,
			sent: new Map()
		}
		client.timer = setTimeout(() => endClient(client), client.options.lifetimeMs ?? 120000)
		client.timer.unref()
		clients.set(id, client)
		await openSocket(client)
		return id
	},
	// Events since index `since` (connection / creds / error), and stray rejections.
	async bc_events({ id, since }) {
		const client = get(id)
		return { events: client.events.slice(since ?? 0), stray, open: client.sock !== null }
	},
	// requestPairingCode(phone) on the current socket; returns the 8-character code.
	async bc_request_pairing_code({ id, phone }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		return await client.sock.requestPairingCode(phone)
	},
	// What the client's creds say now.
	async bc_creds({ id }) {
		const client = get(id)
		const creds = client.sock?.authState?.creds
		if (!creds) return null
		return {
			me: creds.me ?? null,
			registered: creds.registered,
			platform: creds.platform ?? null,
			nextPreKeyId: creds.nextPreKeyId,
			firstUnuploadedPreKeyId: creds.firstUnuploadedPreKeyId,
			lastPropHash: creds.lastPropHash ?? null,
			signalIdentities: creds.signalIdentities ?? [],
			registrationId: creds.registrationId
		}
	},
	// sock.logout(): remove-companion-device, then Baileys closes itself (401).
	async bc_logout({ id }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		await client.sock.logout()
		return true
	},
	// sendMessage(jid, {text}); returns the message key. The message is kept for
	// getMessage (retry resends).
	async bc_send_text({ id, jid, text }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		const sent = await client.sock.sendMessage(jid, { text })
		client.sent.set(sent.key.id, sent.message)
		return sent.key
	},
	// readMessages(keys): read receipts for received messages.
	async bc_read({ id, keys }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		await client.sock.readMessages(keys)
		return true
	},
	// groupCreate(subject, participants); returns {id, subject, participants}.
	async bc_group_create({ id, subject, participants }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		const meta = await client.sock.groupCreate(subject, participants)
		return { id: meta.id, subject: meta.subject, participants: meta.participants.map(p => p.id) }
	},
	// groupParticipantsUpdate(jid, participants, action); returns [{status, jid}].
	async bc_group_participants({ id, jid, participants, action }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		const result = await client.sock.groupParticipantsUpdate(jid, participants, action)
		return result.map(r => ({ status: r.status, jid: r.jid }))
	},
	// groupUpdateSubject(jid, subject).
	async bc_group_subject({ id, jid, subject }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		await client.sock.groupUpdateSubject(jid, subject)
		return true
	},
	// groupLeave(jid).
	async bc_group_leave({ id, jid }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		await client.sock.groupLeave(jid)
		return true
	},
	// sendPresenceUpdate(type, jid): available / unavailable / composing / paused / recording.
	async bc_presence({ id, type, jid }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		await client.sock.sendPresenceUpdate(type, jid)
		return true
	},
	// presenceSubscribe(jid).
	async bc_presence_subscribe({ id, jid }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		await client.sock.presenceSubscribe(jid)
		return true
	},
	// groupMetadata(jid) as plain JSON.
	async bc_group_metadata({ id, jid }) {
		const client = get(id)
		if (!client.sock) throw new Error('client has no open socket')
		const meta = await client.sock.groupMetadata(jid)
		return {
			id: meta.id,
			subject: meta.subject,
			owner: meta.owner ?? null,
			participants: meta.participants.map(p => ({ id: p.id, admin: p.admin ?? null }))
		}
	},
	// The unhandled rejections seen since the last call (and forget them).
	async bc_take_stray() {
		return stray.splice(0, stray.length)
	},
	// End one client (no reconnect).
	async bc_end({ id }) {
		const client = clients.get(id)
		if (client) {
			endClient(client)
			clients.delete(id)
			await settled(client)
		}
		return true
	},
	async bc_end_all() {
		const ending = [...clients.values()]
		for (const client of ending) endClient(client)
		clients.clear()
		for (const client of ending) await settled(client)
		return ending.length
	}
}
