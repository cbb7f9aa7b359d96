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
		fireInitQueries: opts.fireInitQueries ?? true
	})
	client.sock = sock
	sock.ev.on('creds.update', async update => {
		record(client, {
			type: 'creds',
			keys: Object.keys(update).sort(),
			me: update.me ?? null,
			registered: update.registered ?? null
		})
		await saveCreds()
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
		const client = { id, url, dir, options: options ?? {}, events: [], sockets: 0, sock: null, ended: false }
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
		}
		return true
	},
	async bc_end_all() {
		for (const client of clients.values()) endClient(client)
		const n = clients.size
		clients.clear()
		return n
	}
}
