/**
 * The NBD server: listens on TCP or a Unix socket and runs one Connection per client, all of
 * them sharing the exports' devices.
 *
 * Lifecycle (STYLE.md convention 9): `listen` starts accepting; `close` stops accepting, tells
 * every connection to shut down (negotiating ones are dropped; transmitting ones finish their
 * in-flight requests, answer anything further with NBD_ESHUTDOWN and close), and resolves once
 * every connection's device operations have finished. The devices belong to the caller, who
 * flushes and closes them after `close`.
 *
 * Sockets: TCP_NODELAY on every connection (proto.md: both sides "SHOULD disable Nagle's
 * algorithm"); half-open sockets are allowed, so that a client that shuts down its side after
 * its last request still gets every reply. The congestion control follows `tcpCongestion`
 * (block/tcp-congestion.ts): by default a connection from this host is moved off BBR.
 */
import fs from 'node:fs';
import net from 'node:net';
import { Connection, DEFAULT_LIMITS, type ConnectionLimits, type ConnectionStats } from './connection.js';
import { ExportTable, NbdExport } from './export.js';
import { listenTuned, TCP_CONGESTION_AUTO, tuneAcceptedCongestion } from '../block/index.js';
import type { BusyPoll } from '../util/index.js';

/** IANA's port for NBD (proto.md "Newstyle negotiation"). */
export const NBD_DEFAULT_PORT = 10809;

export interface NbdServerOptions {
  exports: NbdExport[];
  /** Connections at once; further ones are refused at accept (default 64). */
  maxConnections?: number;
  limits?: Partial<ConnectionLimits>;
  /** Upgrades a socket to TLS after NBD_OPT_STARTTLS (see tls.ts); absent: no TLS. */
  startTls?: (socket: net.Socket) => Promise<net.Socket>;
  /** Where dropped connections and socket errors are reported (default: nowhere). */
  log?: (message: string) => void;
  /**
   * The event loop's polling (util/busy-poll.ts), told of every request and reply; default none.
   * One per process: servers that share an event loop share it.
   */
  poll?: BusyPoll;
  /** TCP congestion control: auto (default), system, or an algorithm (block/tcp-congestion.ts). */
  tcpCongestion?: string;
}

export type ListenAddress = { host?: string; port: number } | { path: string };

export class NbdServer {
  readonly exports: ExportTable;
  private readonly server: net.Server;
  private readonly connections = new Set<Connection>();
  private readonly limits: ConnectionLimits;
  private stopping = false;
  private closing: Promise<void> | undefined;
  private socketPath: string | undefined;

  private get congestion(): string {
    return this.opts.tcpCongestion ?? TCP_CONGESTION_AUTO;
  }

  constructor(private readonly opts: NbdServerOptions) {
    this.exports = new ExportTable(opts.exports);
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.accept(s));
    this.server.maxConnections = opts.maxConnections ?? 64;
  }

  /** Starts listening; resolves to the bound address ("host:port" or the socket path). */
  async listen(addr: ListenAddress): Promise<string> {
    await listenTuned(this.server, addr, this.congestion);
    if ('path' in addr) {
      this.socketPath = addr.path;
      return addr.path;
    }
    return this.address();
  }

  /** "host:port" of the listening TCP socket (IPv6 hosts in brackets). */
  address(): string {
    const a = this.server.address();
    if (a === null) throw new Error('the server is not listening');
    if (typeof a === 'string') return a;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  /** The listening TCP port. */
  get port(): number {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('the server is not listening on TCP');
    return a.port;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** One entry per open connection: its phase and what it holds in memory. */
  stats(): ConnectionStats[] {
    return [...this.connections].map((c) => c.stats());
  }

  /** Stops accepting, drains every connection, and resolves when no device operation is left. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.stopping = true;
    const listening = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.shutdown();
    await Promise.all([...this.connections].map((c) => c.closed));
    await listening;
    if (this.socketPath) fs.rmSync(this.socketPath, { force: true });
  }

  private accept(socket: net.Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const tcpCongestion = tuneAcceptedCongestion(socket, this.congestion);
    const peer = describePeer(socket);
    const c = new Connection(socket, {
      exports: this.exports,
      limits: this.limits,
      startTls: this.opts.startTls,
      shuttingDown: () => this.stopping,
      log: (m) => this.opts.log?.(`${peer}: ${m}`),
      poll: this.opts.poll,
      tcpCongestion,
    });
    this.connections.add(c);
    void c.closed.then(() => this.connections.delete(c));
  }
}

function describePeer(s: net.Socket): string {
  return s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : 'local client';
}
