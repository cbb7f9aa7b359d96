// Time Baileys' message path for 1:1 text messages, as a Baileys app runs it:
// send = encodeWAMessage (pad) + encryptMessage + the <message><participants> node +
// encodeBinaryNode; receive = decodeBinaryNode + decryptMessageNode (decrypt, unpad,
// decode) + the receipt node. Parties are makeLibSignalRepository over in-memory
// transactional key stores. One sender, one receiver; a first exchange both ways comes
// first, so every timed message is a `msg` (no ratchet step).
// Usage: node bench_messages.mjs <n>   Prints one JSON line.
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { newParty } from '../../tests/interop/ops/signal_group.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const baileys = await import(pathToFileURL(resolve(here, '../../tests/interop/node_modules/baileys/lib/index.js')).href)
const { Curve, decodeBinaryNode, decryptMessageNode, encodeBinaryNode, encodeWAMessage } = baileys

const n = Number(process.argv[2])
const ALICE = '15550001111:1@s.whatsapp.net'
const BOB = '15550002222:1@s.whatsapp.net'
const BOB_USER = '15550002222@s.whatsapp.net'
const silent = { level: 'silent', child: () => silent, trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} }
const now = () => Number(process.hrtime.bigint()) / 1e9

function bundleOf(p) {
	const { creds } = p
	return {
		registrationId: creds.registrationId,
		identityKey: Buffer.concat([Buffer.from([5]), creds.signedIdentityKey.public]),
		signedPreKey: {
			keyId: creds.signedPreKey.keyId,
			publicKey: Buffer.concat([Buffer.from([5]), creds.signedPreKey.keyPair.public]),
			signature: creds.signedPreKey.signature
		}
	}
}

const alice = newParty()
const bob = newParty()

async function send(from, fromJid, to, toJid, toUser, id, text) {
	const data = encodeWAMessage({ conversation: text })
	const { type, ciphertext } = await from.repo.encryptMessage({ jid: toJid, data })
	const stanza = {
		tag: 'message',
		attrs: { id, to: toUser, type: 'text' },
		content: [
			{
				tag: 'participants',
				attrs: {},
				content: [{ tag: 'to', attrs: { jid: toJid }, content: [{ tag: 'enc', attrs: { v: '2', type }, content: ciphertext }] }]
			}
		]
	}
	return { bytes: encodeBinaryNode(stanza), type, ciphertext }
}

function delivered(fromJid, id, type, ciphertext) {
	return encodeBinaryNode({
		tag: 'message',
		attrs: { from: fromJid, type: 'text', id, t: '1795440144', notify: 'Alice' },
		content: [{ tag: 'enc', attrs: { v: '2', type }, content: ciphertext }]
	})
}

async function receive(party, meId, bytes, expect) {
	const stanza = await decodeBinaryNode(bytes)
	const { fullMessage, decrypt } = decryptMessageNode(stanza, meId, '', party.repo, silent)
	await decrypt()
	if (fullMessage.message?.conversation !== expect) throw new Error('decrypt mismatch')
	const receipt = { tag: 'receipt', attrs: { id: stanza.attrs.id, to: stanza.attrs.from } }
	return encodeBinaryNode(receipt)
}

// Sessions both ways, then a first exchange so the timed messages are plain `msg`s.
const pk = 1
await bob.keys.set({ 'pre-key': { [pk]: Curve.generateKeyPair() } })
const bobPre = (await bob.keys.get('pre-key', [String(pk)]))[pk]
await alice.repo.injectE2ESession({
	jid: BOB,
	session: { ...bundleOf(bob), preKey: { keyId: pk, publicKey: Buffer.concat([Buffer.from([5]), bobPre.public]) } }
})
let first = await send(alice, ALICE, bob, BOB, BOB_USER, 'W1', 'hello')
await receive(bob, BOB, delivered(ALICE, 'W1', first.type, first.ciphertext), 'hello')
first = await send(bob, BOB, alice, ALICE, '15550001111@s.whatsapp.net', 'W2', 'back')
await receive(alice, ALICE, delivered(BOB, 'W2', first.type, first.ciphertext), 'back')

const text = 'a'.repeat(100)
const sent = []
const t0 = now()
for (let i = 0; i < n; i++) sent.push(await send(alice, ALICE, bob, BOB, BOB_USER, `M${i}`, text))
const sendRate = n / (now() - t0)
if (sent.some(s => s.type !== 'msg')) throw new Error('expected msg')
const inbound = sent.map((s, i) => delivered(ALICE, `M${i}`, s.type, s.ciphertext))
const t1 = now()
for (const bytes of inbound) await receive(bob, BOB, bytes, text)
const receiveRate = n / (now() - t1)

process.stdout.write(
	JSON.stringify({
		node_version: process.version,
		send_per_s: sendRate,
		receive_per_s: receiveRate,
		stanza_bytes: sent[0].bytes.length
	}) + '\n'
)
