/**
 * The iSCSI target server: listens on one or more portals, runs one Connection per TCP
 * connection, and keeps the session registry (RFC 7143 §4.2.7.4 TSIH; §6.3.5 reinstatement).
 *
 * Sessions: a login with TSIH 0 creates a session and gets a fresh TSIH; if a session with the
 * same initiator port (InitiatorName + ISID) and target port (TargetName + TPGT) is alive, it is
 * closed first (session reinstatement; the core sees an I_T nexus loss). A login with a non-zero
 * TSIH joins that session: since MaxConnections is 1, only to replace its connection with the same
 * CID (connection reinstatement); another CID is refused with "too many connections" (02/06), and
 * a TSIH of no session with "session does not exist" (02/0a).
 *
 * Lifecycle (STYLE.md convention 9): `listen` starts accepting; `close` stops accepting, asks
 * every session to log out (Async Message, AsyncEvent 1) and drops what is still connected after
 * the grace period; it resolves once every command the connections handed to the SCSI core has
 * finished. The logical units belong to the caller, who flushes and closes them after `close`.
 *
 * Sockets: TCP_NODELAY; the congestion control follows `tcpCongestion` (block/tcp-congestion.ts):
 * by default a connection from this host is moved off BBR.
 */
import net from 'node:net';
import { listenTuned, TCP_CONGESTION_AUTO, tuneAcceptedCongestion } from '../block/index.js';
import type { BusyPoll } from '../util/index.js';
import { Connection } from './connection.js';
import type { ConnectionStats, ConnectionTimers } from './connection-context.js';
import { ISCSI_DEFAULT_PORT, LOGIN_STATUS } from './constants.js';
import { LoginError } from './errors.js';
import type { LoginResult } from './login.js';
import { DEFAULT_TARGET_LIMITS, type TargetLimits } from './operational-keys.js';
import { sendTargets, type Portal } from './send-targets.js';
import { makeNexus, Session, sessionPortKey } from './session.js';
import { makeTarget, type IscsiTarget, type IscsiTargetConfig } from './target.js';

export interface IscsiServerOptions {
  targets: IscsiTargetConfig[];
  limits?: Partial<TargetLimits>;
  timers?: Partial<ConnectionTimers>;
  /** TCP connections at once (default 256). */
  maxConnections?: number;
  /** Commands one session may have outstanding (the CmdSN window; default 128). */
  commandWindow?: number;
  /** Largest Expected Data Transfer Length a write may have (default 32 MiB). */
  maxCommandBytes?: number;
  /** Write buffers one connection may hold at once (default 64 MiB). */
  maxHeldBytes?: number;
  /** Unsent output after which a connection stops reading (default 16 MiB). */
  maxQueuedBytes?: number;
  log?: (message: string) => void;
  /**
   * The event loop's polling (util/busy-poll.ts), told of every PDU in and out; default none.
   * One per process: servers that share an event loop share it.
   */
  poll?: BusyPoll;
  /** TCP congestion control: auto (default), system, or an algorithm (block/tcp-congestion.ts). */
  tcpCongestion?: string;
}

export const DEFAULT_TIMERS: ConnectionTimers = {
  loginTimeoutMs: 15_000,
  nopIntervalMs: 15_000,
  nopTimeoutMs: 30_000,
  closeGraceMs: 5_000,
};

export interface BoundPortal extends Portal {
  /** The portal as it was asked for ("host:port"), which targets' `portals` refer to. */
  label: string;
}

export class IscsiServer {
  readonly targets: IscsiTarget[];
  private readonly limits: TargetLimits;
  private readonly timers: ConnectionTimers;
  private readonly listeners: { server: net.Server; portal: BoundPortal }[] = [];
  private readonly connections = new Set<Connection>();
  private readonly sessions = new Map<number, { session: Session; conn: Connection }>();
  private readonly byPort = new Map<string, number>();
  private nextTsih = 1;
  private stopping = false;
  private closing: Promise<void> | undefined;

  private get congestion(): string {
    return this.opts.tcpCongestion ?? TCP_CONGESTION_AUTO;
  }

  constructor(private readonly opts: IscsiServerOptions) {
    this.targets = opts.targets.map(makeTarget);
    const names = new Set<string>();
    for (const t of this.targets) {
      if (names.has(t.name)) throw new Error(`target ${t.name} is configured twice`);
      names.add(t.name);
    }
    this.limits = { ...DEFAULT_TARGET_LIMITS, ...opts.limits };
    this.timers = { ...DEFAULT_TIMERS, ...opts.timers };
  }

  /**
   * Starts listening on every portal; resolves to the bound portals (port 0 gets a free port).
   * All or nothing: when one portal cannot be bound or tuned, the portals this call opened are
   * closed again before the error is thrown, so a failed listen leaves no port open.
   */
  async listen(
    portals: { host: string; port: number }[] = [{ host: '0.0.0.0', port: ISCSI_DEFAULT_PORT }],
  ): Promise<BoundPortal[]> {
    const before = this.listeners.length;
    try {
      for (const p of portals) {
        const label = formatHostPort(p.host, p.port);
        const server = net.createServer({ allowHalfOpen: true, noDelay: true });
        server.maxConnections = this.opts.maxConnections ?? 256;
        const portal: BoundPortal = { host: p.host, port: p.port, label };
        server.on('connection', (s) => this.accept(s, portal));
        await listenTuned(server, p, this.congestion);
        const a = server.address();
        if (a && typeof a !== 'string') portal.port = a.port;
        this.listeners.push({ server, portal });
      }
    } catch (err) {
      for (const { server } of this.listeners.splice(before)) {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      throw err;
    }
    return this.listeners.map((l) => l.portal);
  }

  get portals(): BoundPortal[] {
    return this.listeners.map((l) => l.portal);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  stats(): ConnectionStats[] {
    return [...this.connections].map((c) => c.stats());
  }

  /**
   * Stops: no new connections; sessions are asked to log out within `graceMs` (commands in flight
   * finish), then dropped. Resolves when nothing runs in the SCSI core on their behalf.
   */
  close(graceMs = 5_000): Promise<void> {
    this.closing ??= this.doClose(graceMs);
    return this.closing;
  }

  private async doClose(graceMs: number): Promise<void> {
    this.stopping = true;
    const stopped = Promise.all(
      this.listeners.map((l) => new Promise<void>((r) => l.server.close(() => r()))),
    );
    const graceSeconds = Math.max(1, Math.ceil(graceMs / 1000));
    for (const c of this.connections) c.requestLogout(graceSeconds);
    const hard = setTimeout(() => {
      for (const c of this.connections) c.drop(undefined);
    }, graceMs + this.timers.closeGraceMs);
    hard.unref?.();
    await Promise.all([...this.connections].map((c) => c.closed));
    clearTimeout(hard);
    await stopped;
  }

  private accept(socket: net.Socket, portal: BoundPortal): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const tcpCongestion = tuneAcceptedCongestion(socket, this.congestion);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const log = (m: string): void => this.opts.log?.(`${peer}: ${m}`);
    const c = new Connection(socket, {
      ...this.timers,
      limits: this.limits,
      findTarget: (name) => {
        const t = this.targets.find((x) => x.name === name || x.name === name.toLowerCase());
        return t && this.reachable(t, portal) ? t : undefined;
      },
      establish: (r, conn) => this.establish(r, conn),
      ended: (s) => this.ended(s),
      peers: (target, conn) =>
        [...this.sessions.values()]
          .filter((e) => e.session.target === target && e.conn !== conn)
          .map((e) => e.conn),
      sendTargets: (value, initiatorName, session, local) =>
        sendTargets(
          value,
          initiatorName,
          session.target,
          this.targets.filter((t) => this.reachable(t, portal)),
          (t) => this.portals.filter((p) => !t.portals || t.portals.includes(p.label)),
          local,
        ),
      maxCommandBytes: this.opts.maxCommandBytes ?? 32 * 1024 * 1024,
      maxHeldBytes: this.opts.maxHeldBytes ?? 64 * 1024 * 1024,
      maxQueuedBytes: this.opts.maxQueuedBytes ?? 16 * 1024 * 1024,
      shuttingDown: () => this.stopping,
      log,
      poll: this.opts.poll,
      tcpCongestion,
    });
    this.connections.add(c);
    void c.closed.then(() => this.connections.delete(c));
  }

  private reachable(t: IscsiTarget, portal: BoundPortal): boolean {
    return !t.portals || t.portals.includes(portal.label);
  }

  private establish(r: LoginResult, conn: Connection): Session {
    if (this.stopping) throw new LoginError(LOGIN_STATUS.SERVICE_UNAVAILABLE, 'the target is shutting down');
    const portKey = sessionPortKey(r.initiatorName, r.isid, r.target);
    let tsih: number;
    if (r.tsih !== 0) {
      const old = this.sessions.get(r.tsih);
      if (!old || old.session.portKey !== portKey) {
        throw new LoginError(LOGIN_STATUS.SESSION_DOES_NOT_EXIST, `no session with TSIH ${r.tsih}`);
      }
      if (old.conn.cid !== r.cid) {
        throw new LoginError(LOGIN_STATUS.TOO_MANY_CONNECTIONS, 'MaxConnections is 1 for this session');
      }
      // Connection reinstatement (§6.3.4): the old connection goes, the session's TSIH stays.
      this.forget(old.session);
      old.conn.drop(undefined);
      tsih = r.tsih;
    } else {
      const live = this.byPort.get(portKey);
      if (live !== undefined) {
        // Session reinstatement (§6.3.5): the old session is closed before the new one starts.
        const old = this.sessions.get(live)!;
        this.forget(old.session);
        old.conn.drop(undefined);
      }
      tsih = this.allocateTsih();
    }
    const nexus = r.target ? makeNexus(r.initiatorName, r.isid, r.target) : undefined;
    const session = new Session(
      tsih,
      r.sessionType,
      r.initiatorName,
      r.isid,
      r.target,
      nexus,
      r.params,
      r.cmdSN,
      this.opts.commandWindow ?? 128,
    );
    this.sessions.set(tsih, { session, conn });
    this.byPort.set(portKey, tsih);
    return session;
  }

  /** Removes a session from the registry and tells the core its nexus is gone. */
  private forget(s: Session): void {
    const entry = this.sessions.get(s.tsih);
    if (entry?.session === s) {
      this.sessions.delete(s.tsih);
      if (this.byPort.get(s.portKey) === s.tsih) this.byPort.delete(s.portKey);
    }
    if (!s.ended) s.ended = true;
    if (s.nexus && !nexusLostSent.has(s)) {
      nexusLostSent.add(s);
      s.target!.router.nexusLost(s.nexus);
    }
  }

  private ended(s: Session): void {
    this.forget(s);
  }

  private allocateTsih(): number {
    for (let i = 0; i < 65535; i++) {
      const t = this.nextTsih;
      this.nextTsih = this.nextTsih >= 65535 ? 1 : this.nextTsih + 1;
      if (!this.sessions.has(t)) return t;
    }
    throw new LoginError(LOGIN_STATUS.OUT_OF_RESOURCES, 'no free TSIH');
  }
}

const nexusLostSent = new WeakSet<Session>();

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
