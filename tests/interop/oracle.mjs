// wamd's test oracle: one long-running node process that answers JSON-line requests
// by calling the pinned Baileys package (and the libraries it ships with).
//
// Protocol: one request per stdin line, {"id": n, "op": "name", "args": {...}};
// one reply per stdout line, {"id": n, "ok": true, "result": ...} or
// {"id": n, "ok": false, "error": "..."}. Bytes travel as {"type":"Buffer","data":"<b64>"}
// both ways. Requests are served strictly in arrival order (one promise chain), so
// stateful ops (Signal parties, noise handlers) never interleave.
//
// Ops live in ./ops/*.mjs; each module exports `ops`, an object of name -> async fn(args).
import { readdirSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

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

function replace(value) {
	if (value instanceof Uint8Array) {
		return { type: 'Buffer', data: Buffer.from(value).toString('base64') }
	}
	if (Array.isArray(value)) return value.map(replace)
	if (value && typeof value === 'object') {
		if (typeof value.toJSON === 'function' && !(value instanceof Date)) {
			const j = value.toJSON()
			if (j !== value) return replace(j)
		}
		const out = {}
		for (const [k, v] of Object.entries(value)) {
			if (v !== undefined) out[k] = replace(v)
		}
		return out
	}
	if (typeof value === 'bigint') return value.toString()
	return value
}

const ops = {
	async ping() {
		return 'pong'
	},
	async ops() {
		return Object.keys(ops).sort()
	}
}

const opsDir = join(here, 'ops')
for (const file of readdirSync(opsDir).filter(f => f.endsWith('.mjs')).sort()) {
	const mod = await import(pathToFileURL(join(opsDir, file)).href)
	for (const [name, fn] of Object.entries(mod.ops ?? {})) {
		if (name in ops) throw new Error(`op ${name} defined twice (${file})`)
		ops[name] = fn
	}
}

// Keep stdout for replies only: anything a library prints goes to stderr.
const out = process.stdout
console.log = (...a) => process.stderr.write(a.join(' ') + '\n')
console.info = console.log
console.debug = console.log
console.warn = console.log

let chain = Promise.resolve()
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', line => {
	if (!line.trim()) return
	chain = chain.then(async () => {
		let id = null
		try {
			const req = JSON.parse(line)
			id = req.id
			const fn = ops[req.op]
			if (!fn) throw new Error(`unknown op ${req.op}`)
			const result = await fn(revive(req.args ?? {}))
			out.write(JSON.stringify({ id, ok: true, result: replace(result ?? null) }) + '\n')
		} catch (err) {
			out.write(JSON.stringify({ id, ok: false, error: String(err?.stack ?? err) }) + '\n')
		}
	})
})
rl.on('close', () => {
	chain.then(() => process.exit(0))
})
out.write(JSON.stringify({ id: 0, ok: true, result: 'ready' }) + '\n')
