// Protobuf ops beyond proto.mjs: a combined encode+decode (one round trip per example),
// libsignal's own WhisperMessage/PreKeyWhisperMessage codec, and the WAProto schema as
// protobufjs reads it from WAProto.proto (field numbers, types, packing, enum values).
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import protobuf from 'protobufjs'
import { proto } from 'baileys'

const require = createRequire(import.meta.url)
const libsignalProtos = require('libsignal/src/protobufs.js')

const DECODE_OPTIONS = { longs: String, enums: Number, bytes: Buffer, defaults: false }

function waType(name) {
	let t = proto
	for (const part of name.split('.')) {
		t = t?.[part]
		if (!t) throw new Error(`no WAProto type ${name}`)
	}
	return t
}

function libsignalType(name) {
	const T = libsignalProtos[name]
	if (!T) throw new Error(`no libsignal protobuf type ${name}`)
	return T
}

function encodeDecode(T, object, data, build) {
	const out = {}
	if (object !== undefined && object !== null) {
		out.encoded = Buffer.from(T.encode(build(object)).finish())
	}
	if (data !== undefined && data !== null) {
		out.decoded = T.toObject(T.decode(data), DECODE_OPTIONS)
	}
	return out
}

let waRoot = null
function waSchemaRoot() {
	if (!waRoot) {
		const baileysDir = dirname(require.resolve('baileys/package.json'))
		waRoot = protobuf.loadSync(join(baileysDir, 'WAProto', 'WAProto.proto'))
		waRoot.resolveAll()
	}
	return waRoot
}

function stripRoot(fullName) {
	return fullName.replace(/^\.proto\./, '')
}

export const ops = {
	// WAProto (Baileys' static build): encode `object` and/or decode `data` in one call.
	async proto_encode_decode({ type, object, data }) {
		const T = waType(type)
		return encodeDecode(T, object, data, o => T.fromObject(o))
	},
	// libsignal's own generated codec: type is WhisperMessage or PreKeyWhisperMessage.
	// Built with create(), as libsignal's session cipher does (its older fromObject drops
	// empty byte fields); these types have no 64-bit fields to convert.
	async libsignal_proto_encode_decode({ type, object, data }) {
		const T = libsignalType(type)
		return encodeDecode(T, object, data, o => T.create(o))
	},
	// The schema of a WAProto message or enum, by dotted name, as protobufjs parses it.
	async proto_schema({ type }) {
		const t = waSchemaRoot().lookup(`proto.${type}`)
		if (!t) throw new Error(`no WAProto type ${type}`)
		if (t instanceof protobuf.Enum) {
			return { kind: 'enum', values: { ...t.values } }
		}
		if (!(t instanceof protobuf.Type)) throw new Error(`${type} is not a message or enum`)
		const fields = {}
		for (const f of t.fieldsArray) {
			fields[f.name] = {
				id: f.id,
				type: f.resolvedType ? stripRoot(f.resolvedType.fullName) : f.type,
				kind: f.resolvedType instanceof protobuf.Enum ? 'enum' : f.resolvedType ? 'message' : 'scalar',
				repeated: f.repeated,
				packed: f.repeated ? Boolean(f.packed) : false,
				// proto3 `optional` shows up as a one-field synthetic oneof; only real ones count.
				oneof: f.partOf && !f.options?.proto3_optional ? f.partOf.name : null
			}
		}
		return { kind: 'message', fields }
	}
}
