// WABinary ops: Baileys' own node codec, as the judge for wamd.binary.
// Node content bytes arrive as Buffers (the oracle revives BufferJSON); decoded string
// content comes back as bytes, attribute values as strings (interop.md §3).
import { encodeBinaryNode, decodeBinaryNode } from 'baileys'

export const ops = {
	async binary_encode({ node }) {
		return encodeBinaryNode(node)
	},
	async binary_decode({ data }) {
		return await decodeBinaryNode(data)
	},
	// Encode then decode in Baileys: does Baileys round-trip this node unchanged?
	async binary_roundtrip({ node }) {
		const data = encodeBinaryNode(node)
		let decoded = null
		let error = null
		try {
			decoded = await decodeBinaryNode(data)
		} catch (err) {
			error = String(err?.message ?? err)
		}
		return { data, decoded, error }
	},
	// binary_roundtrip for many nodes in one request (keeps property tests fast).
	async binary_roundtrip_batch({ nodes }) {
		const out = []
		for (const node of nodes) out.push(await ops.binary_roundtrip({ node }))
		return out
	},
	async binary_decode_batch({ datas }) {
		const out = []
		for (const data of datas) {
			try {
				out.push({ node: await decodeBinaryNode(data), error: null })
			} catch (err) {
				out.push({ node: null, error: String(err?.message ?? err) })
			}
		}
		return out
	}
}
