// Message-layer ops: Baileys' ack builder, message ids, and its receive path
// (decryptMessageNode) and encrypt output over the Signal parties of ops/signal.mjs.
// Ops are prefixed `msg_` (this file's namespace). Stanzas travel as WABinary bytes
// (encodeBinaryNode / decodeBinaryNode), so both node codecs take part in every test.
import { createRequire, syncBuiltinESMExports } from 'node:module'
import {
	buildAckStanza,
	decodeBinaryNode,
	decryptMessageNode,
	encodeBinaryNode,
	encodeWAMessage,
	extractDeviceJids,
	extractE2ESessionFromRetryReceipt,
	generateMessageIDV2,
	jidEncode,
	parseAndInjectE2ESessions,
	proto,
	USyncQuery
} from 'baileys'
import { getParty } from './signal.mjs'

const require = createRequire(import.meta.url)
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

// Buffers to plain objects for JSON replies: a decoded node's content bytes stay Buffers.
function plainNode(node) {
	return {
		tag: node.tag,
		attrs: node.attrs,
		content: Array.isArray(node.content) ? node.content.map(plainNode) : node.content ?? null
	}
}

export const ops = {
	async msg_build_ack({ node, error, me }) {
		return buildAckStanza(node, error ?? undefined, me ?? undefined)
	},
	// generateMessageIDV2 with the clock and the random bytes pinned.
	async msg_message_id({ me, now_s, random }) {
		const crypto = require('crypto')
		const realRandom = crypto.randomBytes
		const realNow = Date.now
		crypto.randomBytes = n => {
			if (n !== random.length) throw new Error(`asked for ${n} random bytes`)
			return Buffer.from(random)
		}
		Date.now = () => now_s * 1000 + 999
		syncBuiltinESMExports()
		try {
			return generateMessageIDV2(me ?? undefined)
		} finally {
			crypto.randomBytes = realRandom
			Date.now = realNow
			syncBuiltinESMExports()
		}
	},
	// Decrypt a delivered <message> (WABinary bytes) as a Baileys client would.
	async msg_decrypt({ party, data, me_id, me_lid }) {
		const p = getParty(party)
		const stanza = await decodeBinaryNode(data)
		const { fullMessage, author, decrypt } = decryptMessageNode(stanza, me_id, me_lid ?? '', p.repo, silent)
		await decrypt()
		return {
			key: fullMessage.key,
			author,
			pushName: fullMessage.pushName ?? null,
			timestamp: fullMessage.messageTimestamp,
			stubType: fullMessage.messageStubType ?? null,
			stubParameters: fullMessage.messageStubParameters ?? null,
			message: fullMessage.message ? Buffer.from(proto.Message.encode(fullMessage.message).finish()) : null
		}
	},
	// A delivered 1:1 stanza built by a Baileys party: its encrypt output for `to`.
	async msg_direct_stanza({ party, to, message, attrs }) {
		const p = getParty(party)
		const msg = proto.Message.decode(message)
		const { type, ciphertext } = await p.repo.encryptMessage({ jid: to, data: encodeWAMessage(msg) })
		const content = [{ tag: 'enc', attrs: { v: '2', type }, content: ciphertext }]
		return encodeBinaryNode({ tag: 'message', attrs, content })
	},
	// A delivered group stanza from a Baileys party to device `to`: the SKDM pairwise
	// (unless skip_skdm), then the skmsg, as the server fans a group message out.
	async msg_group_stanza({ party, group, me, to, message, attrs, skip_skdm }) {
		const p = getParty(party)
		const msg = proto.Message.decode(message)
		const { ciphertext, senderKeyDistributionMessage } = await p.repo.encryptGroupMessage({
			group,
			meId: me,
			data: encodeWAMessage(msg)
		})
		const content = []
		if (!skip_skdm) {
			const skdm = {
				senderKeyDistributionMessage: { groupId: group, axolotlSenderKeyDistributionMessage: senderKeyDistributionMessage }
			}
			const { type, ciphertext: pairwise } = await p.repo.encryptMessage({ jid: to, data: encodeWAMessage(skdm) })
			content.push({ tag: 'enc', attrs: { v: '2', type }, content: pairwise })
		}
		content.push({ tag: 'enc', attrs: { v: '2', type: 'skmsg' }, content: ciphertext })
		return encodeBinaryNode({ tag: 'message', attrs, content })
	},
	// Baileys' reading of a usync device reply: the device JIDs it would encrypt for.
	async msg_usync_devices({ data, me_id, me_lid }) {
		const node = await decodeBinaryNode(data)
		const query = new USyncQuery().withContext('message').withDeviceProtocol().withLIDProtocol()
		const result = query.parseUSyncQueryResult(node)
		if (!result) return null
		const jids = extractDeviceJids(result.list, me_id, me_lid ?? '', false).map(d =>
			jidEncode(d.user, d.server, d.device)
		)
		const lids = result.list.filter(u => !!u.lid).map(u => ({ lid: u.lid, pn: u.id }))
		return { jids, lids }
	},
	// Baileys reads a key-fetch reply and starts sessions from it.
	async msg_inject_key_reply({ party, data }) {
		const p = getParty(party)
		await parseAndInjectE2ESessions(await decodeBinaryNode(data), p.repo)
		return true
	},
	// Baileys reads the key bundle of a retry receipt (as the original sender gets it)
	// and starts a session with the asking device `jid` from it.
	async msg_inject_retry_receipt({ party, jid, data }) {
		const p = getParty(party)
		const bundle = extractE2ESessionFromRetryReceipt(await decodeBinaryNode(data))
		if (!bundle) return false
		await p.repo.injectE2ESession({ jid, session: bundle })
		return true
	},
	async msg_decode({ data }) {
		return plainNode(await decodeBinaryNode(data))
	}
}
