// Noise ops: Baileys' makeNoiseHandler as the client of a handshake whose server is wamd.
//
// State lives in `clients`, keyed by a numeric handle. The client finish is assembled the
// way Baileys' socket (lib/Socket/socket.js, validateConnection) does it: processHandshake
// gives the encrypted static key, the ClientPayload is encrypted with noise.encrypt, both
// go into HandshakeMessage.clientFinish, the frame is sent, then finishInit() switches the
// handler to transport mode.
import {
	Curve,
	DEFAULT_CONNECTION_CONFIG,
	NOISE_WA_HEADER,
	WA_CERT_DETAILS,
	encodeBinaryNode,
	generateLoginNode,
	generateRegistrationNode,
	initAuthCreds,
	makeNoiseHandler,
	proto
} from 'baileys'

const silent = {
	level: 'silent',
	child() {
		return silent
	},
	trace() {},
	debug() {},
	info() {},
	warn() {},
	error() {},
	fatal() {}
}

const clients = new Map()
let nextHandle = 1

function client(handle) {
	const c = clients.get(handle)
	if (!c) throw new Error(`no noise client with handle ${handle}`)
	return c
}

export const ops = {
	// Start a Baileys noise client. Returns its handle, the first websocket message
	// (intro + ClientHello frame) and the ephemeral public key. `rootKey` is the trusted
	// root its certificate check will use.
	async noise_client_start({ ephemeral, routingInfo, rootKey }) {
		const keyPair = ephemeral
			? { private: ephemeral.private, public: ephemeral.public }
			: Curve.generateKeyPair()
		const noise = makeNoiseHandler({
			keyPair,
			NOISE_HEADER: NOISE_WA_HEADER,
			logger: silent,
			routingInfo: routingInfo || undefined
		})
		const handle = nextHandle++
		clients.set(handle, { noise, rootKey: rootKey ? Buffer.from(rootKey) : null })
		const hello = proto.HandshakeMessage.encode({ clientHello: { ephemeral: keyPair.public } }).finish()
		return { handle, data: noise.encodeFrame(hello), ephemeral: keyPair.public }
	},

	// Feed received bytes (any split) to the client. Returns the frames completed by them:
	// raw bytes before the handshake finished, decoded binary nodes after.
	async noise_client_receive({ handle, data }) {
		const c = client(handle)
		const frames = []
		await c.noise.decodeFrame(data, frame => frames.push(frame))
		return frames
	},

	// Process the ServerHello frame payload; build, frame and return the ClientFinish.
	// `payload` is the serialized ClientPayload; without it Baileys makes a registration
	// payload for fresh creds (or a login payload when `loginJid` is given).
	async noise_client_finish({ handle, serverHello, noiseKey, payload, loginJid }) {
		const c = client(handle)
		const handshake = proto.HandshakeMessage.decode(serverHello)
		const creds = initAuthCreds()
		const key = noiseKey ? { private: noiseKey.private, public: noiseKey.public } : creds.noiseKey
		let payloadBytes = payload
		if (!payloadBytes) {
			const node = loginJid
				? generateLoginNode(loginJid, DEFAULT_CONNECTION_CONFIG)
				: generateRegistrationNode(creds, DEFAULT_CONNECTION_CONFIG)
			payloadBytes = proto.ClientPayload.encode(node).finish()
		}
		// The handler reads the trusted root from the exported, mutable WA_CERT_DETAILS;
		// point it at the test root for this call only.
		const realRoot = WA_CERT_DETAILS.PUBLIC_KEY
		let keyEnc
		try {
			if (c.rootKey) WA_CERT_DETAILS.PUBLIC_KEY = c.rootKey
			keyEnc = c.noise.processHandshake(handshake, key)
		} finally {
			WA_CERT_DETAILS.PUBLIC_KEY = realRoot
		}
		const payloadEnc = c.noise.encrypt(payloadBytes)
		const finish = proto.HandshakeMessage.encode({
			clientFinish: { static: keyEnc, payload: payloadEnc }
		}).finish()
		const data = c.noise.encodeFrame(finish)
		await c.noise.finishInit()
		return { data, noisePublic: key.public, payload: Buffer.from(payloadBytes) }
	},

	// Encrypt (after the handshake) and frame bytes as Baileys' sendRawMessage does.
	async noise_client_send({ handle, data }) {
		return client(handle).noise.encodeFrame(data)
	},

	// Baileys' WABinary encoding of a node, for frames the wamd side sends to the client.
	async noise_encode_node({ node }) {
		return Buffer.from(encodeBinaryNode(node))
	},

	async noise_client_close({ handle }) {
		return clients.delete(handle)
	}
}
