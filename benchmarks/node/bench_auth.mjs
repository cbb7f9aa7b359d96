// Time Baileys' useMultiFileAuthState for benchmarks/bench_auth.py.
// Usage: node bench_auth.mjs <spec.json>; prints one JSON line.
// spec: {updatesDir, session (libsignal JSON object), sessionIds, sequential, concurrent,
//        largeDir, largeIds: {category: [ids]}, openRepeats}
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const pkg = resolve(here, '../../tests/interop/node_modules/baileys/lib')
const { useMultiFileAuthState } = await import(
	pathToFileURL(resolve(pkg, 'Utils/use-multi-file-auth-state.js')).href
)

const spec = JSON.parse(readFileSync(process.argv[2], 'utf-8'))
const now = () => Number(process.hrtime.bigint()) / 1e9
const out = {}

// Committed session updates: one keys.set per update, as the Signal layer does.
{
	const { state } = await useMultiFileAuthState(spec.updatesDir)
	const ids = spec.sessionIds
	const update = i => state.keys.set({ session: { [ids[i % ids.length]]: spec.session } })
	for (let i = 0; i < 200; i++) await update(i) // warm-up
	let t0 = now()
	for (let i = 0; i < spec.sequential; i++) await update(i)
	out.sequential_per_s = spec.sequential / (now() - t0)
	const bursts = Math.floor(spec.concurrent / ids.length)
	t0 = now()
	for (let r = 0; r < bursts; r++) {
		// each burst updates every session at once
		await Promise.all(ids.map((_, i) => update(i)))
	}
	out.concurrent_per_s = (bursts * ids.length) / (now() - t0)
	// sustained: one worker per session, each doing its updates one after another
	t0 = now()
	await Promise.all(
		ids.map(async (_, w) => {
			for (let r = 0; r < bursts; r++) await update(w)
		})
	)
	out.sustained_per_s = (bursts * ids.length) / (now() - t0)
}

// Open a large auth state and read all of it (ids known, as the caller knows them).
{
	const times = []
	let counts = {}
	for (let r = 0; r < spec.openRepeats; r++) {
		const t0 = now()
		const { state } = await useMultiFileAuthState(spec.largeDir)
		counts = {}
		for (const [category, ids] of Object.entries(spec.largeIds)) {
			const got = await state.keys.get(category, ids)
			counts[category] = Object.values(got).filter(v => v !== null && v !== undefined).length
		}
		counts.creds = state.creds.registrationId ? 1 : 0
		times.push(now() - t0)
	}
	times.sort((a, b) => a - b)
	out.open_read_all_ms = times[Math.floor(times.length / 2)] * 1000
	out.open_read_all_best_ms = times[0] * 1000
	out.counts = counts
}

out.node = process.version
console.log(JSON.stringify(out))
