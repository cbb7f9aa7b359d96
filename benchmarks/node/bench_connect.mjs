// Baileys' side of benchmarks/bench_connect.py: login time and memory per idle socket.
// Usage: node --expose-gc bench_connect.mjs <spec.json>; prints one JSON line.
// spec: {url, root (hex), repeats, sizes: [1, 100, 1000], firstUser}
// Each client is makeWASocket on an in-memory auth state whose creds name a device the
// lenient FakeServer creates at login (already holding pre-keys): a stored session.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const modules = resolve(here, '../../tests/interop/node_modules')
const load = p => import(pathToFileURL(resolve(modules, p)).href)
const baileys = await load('baileys/lib/index.js')
const makeWASocket = baileys.default
const { initAuthCreds, WA_CERT_DETAILS } = baileys
const pino = (await load('pino/pino.js')).default

const spec = JSON.parse(readFileSync(process.argv[2], 'utf-8'))
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(spec.root, 'hex')
const silent = pino({ level: 'silent' })
const now = () => Number(process.hrtime.bigint()) / 1e9
const sleep = ms => new Promise(r => setTimeout(r, ms))

function memoryKeys() {
	const data = new Map()
	return {
		async get(type, ids) {
			const out = {}
			for (const id of ids) {
				const v = data.get(`${type}:${id}`)
				if (v !== undefined) out[id] = v
			}
			return out
		},
		async set(changes) {
			for (const [type, values] of Object.entries(changes)) {
				for (const [id, v] of Object.entries(values)) {
					if (v === null || v === undefined) data.delete(`${type}:${id}`)
					else data.set(`${type}:${id}`, v)
				}
			}
		}
	}
}

function storedSession(user) {
	const creds = initAuthCreds()
	creds.me = { id: `${user}:1@s.whatsapp.net` }
	return { creds, keys: memoryKeys() }
}

// Resolve once the socket is open; reject on close or after 60 s.
function open(auth) {
	return new Promise((resolveOpen, reject) => {
		const sock = makeWASocket({
			waWebSocketUrl: spec.url,
			auth,
			logger: silent,
			printQRInTerminal: false,
			syncFullHistory: false,
			shouldSyncHistoryMessage: () => false,
			markOnlineOnConnect: false,
			connectTimeoutMs: 30000,
			defaultQueryTimeoutMs: 30000
		})
		const timer = setTimeout(() => {
			sock.end(undefined)
			reject(new Error('no open within 120 s'))
		}, 120000)
		sock.ev.on('connection.update', update => {
			if (update.connection === 'open') {
				clearTimeout(timer)
				resolveOpen(sock)
			} else if (update.connection === 'close') {
				clearTimeout(timer)
				reject(new Error(`closed: ${update.lastDisconnect?.error?.message}`))
			}
		})
	})
}

const out = { node: process.version }

// Login time, one client at a time (same account, previous socket ended first).
{
	const auth = storedSession(spec.firstUser)
	const times = []
	for (let i = 0; i < spec.repeats + 3; i++) {
		const t0 = now()
		const sock = await open(auth)
		times.push(now() - t0)
		sock.end(undefined)
		await sleep(50)
	}
	out.login_s = times.slice(3)
}

// Memory with idle connections.
{
	const warm = await open(storedSession(spec.firstUser + 999999))
	warm.end(undefined)
	await sleep(500)
	global.gc?.()
	await sleep(500)
	out.baseline_rss = process.memoryUsage().rss
	const socks = []
	out.rss = {}
	out.failed = 0
	let next = 0
	try {
		for (const size of spec.sizes) {
			while (socks.length < size) {
				const batch = []
				const want = Math.min(size - socks.length, 25)
				for (let i = 0; i < want; i++) {
					batch.push(open(storedSession(spec.firstUser + 1 + next++)))
				}
				for (const r of await Promise.allSettled(batch)) {
					if (r.status === 'fulfilled') socks.push(r.value)
					else {
						out.lastError = String(r.reason?.message ?? r.reason)
						if (++out.failed > 20) throw r.reason
					}
				}
			}
			global.gc?.()
			await sleep(1000)
			out.rss[String(size)] = process.memoryUsage().rss
		}
	} catch (err) {
		out.error = String(err?.message ?? err)
	}
	out.connected = socks.length
	for (const sock of socks) sock.end(undefined)
}

console.log(JSON.stringify(out))
process.exit(0)
