// Protobuf encode/decode by dotted WAProto type name, through Baileys' protobufjs build.
import { proto } from 'baileys'

function lookup(name) {
	let t = proto
	for (const part of name.split('.')) {
		t = t?.[part]
		if (!t) throw new Error(`no proto type ${name}`)
	}
	return t
}

export const ops = {
	// `object` is a plain object as toObject/toJSON give it (bytes as Buffers or base64,
	// 64-bit integers as decimal strings, enums as numbers or names). Baileys' static build
	// has no verify(): fromObject coerces values to the field types, so keep them in range.
	async proto_encode({ type, object }) {
		const T = lookup(type)
		return Buffer.from(T.encode(T.fromObject(object)).finish())
	},
	async proto_decode({ type, data }) {
		const T = lookup(type)
		const msg = T.decode(data)
		return T.toObject(msg, { longs: String, enums: Number, bytes: Buffer, defaults: false })
	}
}
