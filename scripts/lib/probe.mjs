// Plain JavaScript on purpose: `./sys2ft doctor` runs it before node modules (and tsx) are installed.
import net from 'node:net'

/** Where the tests look for a Postgres server before starting an embedded one (SYS2FT_TEST_PG_PROBE overrides). */
export const DEFAULT_PROBE = '127.0.0.1:5432'

/** Splits `host:port`; anything else is refused with the variable's name. */
export function parseProbe(probe) {
  const m = /^(.+):(\d+)$/.exec(probe)
  if (!m) throw new Error(`SYS2FT_TEST_PG_PROBE must be host:port, got ${JSON.stringify(probe)}`)
  return { host: m[1], port: Number(m[2]) }
}

/** Whether something accepts TCP connections at host:port within the timeout. */
export function answers(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
