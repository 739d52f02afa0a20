import { BlockList, isIP } from 'node:net'
import { ConfigError } from '@sys2ft/service-kit'

/**
 * Which hosts `POST /workers` may register (SYS2FT_WORKER_HOSTS). The training service calls every
 * registered worker with its key and sends it training data, so a client must not be able to point it
 * at an arbitrary address (a cloud metadata endpoint, another tenant's service). Entries, comma
 * separated: an IP address or CIDR block (`10.0.0.0/8`, `fd00::/8`), a host name (`gpu-1.lab`), a
 * suffix (`*.svc.cluster.local`), or `*` for any host. Workers from configuration are always allowed.
 * An IP literal is matched against the addresses and blocks, a name against the names: a name is not
 * resolved, so a name entry is a promise about that name only.
 */
export class WorkerHostPolicy {
  private readonly blocks = new BlockList()
  private readonly names = new Set<string>()
  private readonly suffixes: string[] = []
  private any = false

  constructor(
    readonly entries: string[],
    configuredUrls: string[] = [],
  ) {
    for (const entry of entries) this.add(entry)
    for (const url of configuredUrls) this.addHost(new URL(url).hostname)
  }

  /** The default: this machine only, and the hosts of the configured workers. */
  static parse(text: string, configuredUrls: string[]): WorkerHostPolicy {
    const entries = text.split(',').map((e) => e.trim()).filter(Boolean)
    return new WorkerHostPolicy(entries.length ? entries : ['127.0.0.0/8', '::1', 'localhost'], configuredUrls)
  }

  /** Why `url` may not be registered, or null when it may. */
  refusal(url: string): string | null {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return 'is not a URL'
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `must be http or https (got ${parsed.protocol.replace(/:$/, '')})`
    if (parsed.username || parsed.password) return 'must not carry credentials (give api_key instead)'
    if (this.any) return null
    const host = bare(parsed.hostname)
    const family = isIP(host)
    const allowed = family ? this.blocks.check(host, family === 6 ? 'ipv6' : 'ipv4') : this.names.has(host) || this.suffixes.some((s) => host.endsWith(s))
    return allowed ? null : `host ${host} is not in SYS2FT_WORKER_HOSTS (${this.entries.join(', ') || 'unset'})`
  }

  private add(entry: string): void {
    if (entry === '*') {
      this.any = true
      return
    }
    if (entry.startsWith('*.')) {
      this.suffixes.push(entry.slice(1).toLowerCase())
      return
    }
    const [address, bits] = entry.split('/')
    const family = isIP(bare(address!))
    if (bits !== undefined) {
      const prefix = Number(bits)
      const max = family === 6 ? 128 : 32
      if (!family || !/^\d+$/.test(bits) || prefix > max) throw new ConfigError(`SYS2FT_WORKER_HOSTS: ${entry} is not an address block (e.g. 10.0.0.0/8)`)
      this.blocks.addSubnet(bare(address!), prefix, family === 6 ? 'ipv6' : 'ipv4')
      return
    }
    if (!family && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(entry)) throw new ConfigError(`SYS2FT_WORKER_HOSTS: ${entry} is not a host name, address, block, *.suffix or *`)
    this.addHost(entry)
  }

  private addHost(host: string): void {
    const h = bare(host).toLowerCase()
    const family = isIP(h)
    if (family) this.blocks.addAddress(h, family === 6 ? 'ipv6' : 'ipv4')
    else this.names.add(h)
  }
}

/** `[::1]` (as URL.hostname gives an IPv6 host) → `::1`. */
const bare = (host: string) => host.replace(/^\[(.*)\]$/, '$1')
