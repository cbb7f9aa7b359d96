// Time Baileys' group (sender-key) encryption through makeLibSignalRepository over an
// in-memory transactional key store, as a Baileys app runs it.
// Usage: node bench_signal_group.mjs <fresh_n> <history_n> <after_n> <size>
// One sender, one receiver: encrypt fresh_n messages (timed), decrypt them (timed); send
// and receive more until history_n messages in all; then encrypt and decrypt after_n more
// (timed). Prints one JSON line.
import { newParty } from '../../tests/interop/ops/signal_group.mjs'

const [freshN, historyN, afterN, size] = process.argv.slice(2).map(Number)
const GROUP = '120363000000000000@g.us'
const ME = '15550001111:2@s.whatsapp.net'
const PLAINTEXT = Buffer.alloc(size, 0x61)

const sender = newParty()
const receiver = newParty()
const now = () => Number(process.hrtime.bigint()) / 1e9

async function encryptMany(n) {
	const out = []
	const t0 = now()
	for (let i = 0; i < n; i++) {
		const r = await sender.repo.encryptGroupMessage({ group: GROUP, meId: ME, data: PLAINTEXT })
		out.push(r)
	}
	return { rate: n / (now() - t0), out }
}

async function decryptMany(items) {
	const t0 = now()
	for (const { ciphertext } of items) {
		const pt = await receiver.repo.decryptGroupMessage({ group: GROUP, authorJid: ME, msg: ciphertext })
		if (!Buffer.from(pt).equals(PLAINTEXT)) throw new Error('decrypt mismatch')
	}
	return items.length / (now() - t0)
}

const fresh = await encryptMany(freshN)
await receiver.repo.processSenderKeyDistributionMessage({
	authorJid: ME,
	item: { groupId: GROUP, axolotlSenderKeyDistributionMessage: fresh.out[0].senderKeyDistributionMessage }
})
const decFresh = await decryptMany(fresh.out)
const tHist = now()
let done = freshN
while (done < historyN) {
	const batch = await encryptMany(Math.min(200, historyN - done))
	await decryptMany(batch.out)
	done += batch.out.length
}
const historySeconds = now() - tHist
const after = await encryptMany(afterN)
const decAfter = await decryptMany(after.out)

const name = `${GROUP}::15550001111::2`
const own = (await sender.keys.get('sender-key', [name]))[name]
const theirs = (await receiver.keys.get('sender-key', [name]))[name]
process.stdout.write(
	JSON.stringify({
		node_version: process.version,
		encrypt_fresh_per_s: fresh.rate,
		decrypt_fresh_per_s: decFresh,
		encrypt_after_per_s: after.rate,
		decrypt_after_per_s: decAfter,
		history_seconds: historySeconds,
		ciphertext_bytes: fresh.out[1].ciphertext.length,
		sender_record_bytes: own.length,
		receiver_record_bytes: theirs.length
	}) + '\n'
)
