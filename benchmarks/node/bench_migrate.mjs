// Time Baileys copying a large auth folder to a new one with useMultiFileAuthState
// (read every key and the creds, write them all, saveCreds), for bench_migrate.py.
// Usage: node bench_migrate.mjs <spec.json>; spec: {src, dstPrefix, ids: {category: [ids]},
// repeats}. Prints one JSON line.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const lib = resolve(here, '../../tests/interop/node_modules/baileys/lib')
const { useMultiFileAuthState } = await import(
	pathToFileURL(resolve(lib, 'Utils/use-multi-file-auth-state.js')).href
)

const spec = JSON.parse(readFileSync(process.argv[2], 'utf-8'))
const now = () => Number(process.hrtime.bigint()) / 1e9
const times = []
let keys = 0
for (let r = 0; r < spec.repeats; r++) {
	const t0 = now()
	const src = await useMultiFileAuthState(spec.src)
	const dst = await useMultiFileAuthState(`${spec.dstPrefix}${r}`)
	const changes = {}
	keys = 0
	for (const [category, ids] of Object.entries(spec.ids)) {
		changes[category] = await src.state.keys.get(category, ids)
		keys += Object.values(changes[category]).filter(v => v != null).length
	}
	await dst.state.keys.set(changes)
	Object.assign(dst.state.creds, src.state.creds)
	await dst.saveCreds()
	times.push(now() - t0)
}
times.sort((a, b) => a - b)
console.log(JSON.stringify({ copy_ms: times[Math.floor(times.length / 2)] * 1000, keys, node: process.version }))
