// Time Baileys' pairwise Signal (libsignal-node through makeLibSignalRepository over an
// in-memory key store with transactions, as a Baileys app runs it).
// Usage: node bench_signal.mjs <one_way_n> <ping_pong_n> <setups_n> <record_n>
// Prints one JSON line with messages/s, setups/s and the record size.
import { makeParty } from '../../tests/interop/ops/signal.mjs'
import { getNextPreKeys } from '../../tests/interop/node_modules/baileys/lib/Utils/signal.js'

const [oneWayN, pingPongN, setupsN, recordN] = process.argv.slice(2).map(Number)
const PLAINTEXT = Buffer.alloc(100, 0x61)

function jidOf(i) {
	return `${1000000000 + i}:1@s.whatsapp.net`
}

async function bundleOf(party) {
	const { update, preKeys } = await getNextPreKeys({ creds: party.creds, keys: party.keys }, 1)
	Object.assign(party.creds, update)
	const keyId = Math.max(...Object.keys(preKeys).map(Number))
	const p = pub => Buffer.concat([Buffer.from([5]), Buffer.from(pub)])
	return {
		registrationId: party.creds.registrationId,
		identityKey: p(party.creds.signedIdentityKey.public),
		signedPreKey: {
			keyId: party.creds.signedPreKey.keyId,
			publicKey: p(party.creds.signedPreKey.keyPair.public),
			signature: Buffer.from(party.creds.signedPreKey.signature)
		},
		preKey: { keyId, publicKey: p(preKeys[keyId].public) }
	}
}

async function send(from, fromJid, to, toJid, data) {
	const { type, ciphertext } = await from.repo.encryptMessage({ jid: toJid, data })
	const out = await to.repo.decryptMessage({ jid: fromJid, type, ciphertext })
	if (!Buffer.from(out).equals(data)) throw new Error('decrypt mismatch')
}

async function pair(i) {
	const a = makeParty()
	const b = makeParty()
	const aJid = jidOf(2 * i)
	const bJid = jidOf(2 * i + 1)
	await a.repo.injectE2ESession({ jid: bJid, session: await bundleOf(b) })
	await send(a, aJid, b, bJid, PLAINTEXT)
	await send(b, bJid, a, aJid, PLAINTEXT)
	return { a, b, aJid, bJid }
}

async function timeIt(fn) {
	const t0 = process.hrtime.bigint()
	await fn()
	return Number(process.hrtime.bigint() - t0) / 1e9
}

// Warm-up on the same work.
{
	const { a, b, aJid, bJid } = await pair(900000)
	for (let i = 0; i < 300; i++) await send(a, aJid, b, bJid, PLAINTEXT)
	for (let i = 0; i < 100; i++) {
		await send(a, aJid, b, bJid, PLAINTEXT)
		await send(b, bJid, a, aJid, PLAINTEXT)
	}
}

const result = { node_version: process.version }
{
	const { a, b, aJid, bJid } = await pair(1)
	const s = await timeIt(async () => {
		for (let i = 0; i < oneWayN; i++) await send(a, aJid, b, bJid, PLAINTEXT)
	})
	result.one_way_per_s = oneWayN / s
}
{
	const { a, b, aJid, bJid } = await pair(2)
	const s = await timeIt(async () => {
		for (let i = 0; i < pingPongN; i++) {
			if (i % 2 === 0) await send(a, aJid, b, bJid, PLAINTEXT)
			else await send(b, bJid, a, aJid, PLAINTEXT)
		}
	})
	result.ping_pong_per_s = pingPongN / s
}
{
	const a = makeParty()
	const b = makeParty()
	const aJid = jidOf(10)
	const bundles = []
	for (let i = 0; i < setupsN; i++) bundles.push(await bundleOf(b))
	const s = await timeIt(async () => {
		for (let i = 0; i < setupsN; i++) {
			// a distinct address per setup, so no record grows
			const bJid = jidOf(100 + i)
			await a.repo.injectE2ESession({ jid: bJid, session: bundles[i] })
			const { type, ciphertext } = await a.repo.encryptMessage({ jid: bJid, data: PLAINTEXT })
			const peerJid = jidOf(100000 + i)
			const out = await b.repo.decryptMessage({ jid: peerJid, type, ciphertext })
			if (!Buffer.from(out).equals(PLAINTEXT)) throw new Error('setup mismatch')
		}
	})
	result.setups_per_s = setupsN / s
}
{
	const { a, b, aJid, bJid } = await pair(3)
	for (let i = 0; i < recordN; i++) {
		if (i % 2 === 0) await send(a, aJid, b, bJid, PLAINTEXT)
		else await send(b, bJid, a, aJid, PLAINTEXT)
	}
	const addr = a.repo.jidToSignalProtocolAddress(bJid)
	result.record_json_bytes = JSON.stringify(a.store.data.session[addr]).length
}
process.stdout.write(JSON.stringify(result) + '\n')
