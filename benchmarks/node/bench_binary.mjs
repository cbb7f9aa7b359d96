// Time Baileys' WABinary codec on a corpus written by benchmarks/bench_binary.py.
// Usage: node bench_binary.mjs <corpus.json> <rounds>
// The corpus is a JSON list of nodes with bytes as BufferJSON; prints one JSON line.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const pkg = resolve(here, '../../tests/interop/node_modules/baileys/lib')
const { encodeBinaryNode, decodeBinaryNode, decodeDecompressedBinaryNode } = await import(
	pathToFileURL(resolve(pkg, 'WABinary/index.js')).href
)
const constants = await import(pathToFileURL(resolve(pkg, 'WABinary/constants.js')).href)

function revive(value) {
	if (Array.isArray(value)) return value.map(revive)
	if (value && typeof value === 'object') {
		if (value.type === 'Buffer' && typeof value.data === 'string') {
			return Buffer.from(value.data, 'base64')
		}
		const out = {}
		for (const [k, v] of Object.entries(value)) out[k] = revive(v)
		return out
	}
	return value
}

const nodes = revive(JSON.parse(readFileSync(process.argv[2], 'utf-8')))
const rounds = Number(process.argv[3] ?? 10)
const encoded = nodes.map(n => encodeBinaryNode(n))

// Warm up the JIT on the same work before timing.
for (let r = 0; r < 2; r++) {
	for (const n of nodes) encodeBinaryNode(n)
	for (const b of encoded) await decodeBinaryNode(b)
}

const cpu = () => {
	const u = process.cpuUsage()
	return (u.user + u.system) / 1e6
}
const c0 = cpu()
const t0 = process.hrtime.bigint()
for (let r = 0; r < rounds; r++) {
	for (const n of nodes) encodeBinaryNode(n)
}
const t1 = process.hrtime.bigint()
const c1 = cpu()
for (let r = 0; r < rounds; r++) {
	for (const b of encoded) await decodeBinaryNode(b)
}
const t2 = process.hrtime.bigint()
const c2 = cpu()
for (let r = 0; r < rounds; r++) {
	for (const b of encoded) decodeDecompressedBinaryNode(b.subarray(1), constants)
}
const t3 = process.hrtime.bigint()

const n = nodes.length * rounds
process.stdout.write(
	JSON.stringify({
		node_version: process.version,
		nodes: nodes.length,
		rounds,
		bytes: encoded.reduce((a, b) => a + b.length, 0),
		sha256: encoded.reduce((h, b) => h.update(b), createHash('sha256')).digest('hex'),
		encode_nodes_per_s: n / (Number(t1 - t0) / 1e9),
		decode_nodes_per_s: n / (Number(t2 - t1) / 1e9),
		decode_sync_nodes_per_s: n / (Number(t3 - t2) / 1e9),
		encode_nodes_per_cpu_s: n / (c1 - c0),
		decode_nodes_per_cpu_s: n / (c2 - c1)
	}) + '\n'
)
