/**
 * The TCP congestion control of a server's connections (TCP_CONGESTION, native helper).
 *
 * A server's `tcpCongestion` option takes one of:
 * - `auto` (the default): a connection from this host whose socket the kernel gave BBR gets
 *   CUBIC instead; every other connection keeps the system's choice.
 * - `system`: every connection keeps the system's choice (net.ipv4.tcp_congestion_control).
 * - an algorithm's name (`cubic`, `reno`, `bbr`, ...): set on the listening socket, which the
 *   kernel passes on to every connection it accepts. A name the kernel does not know, or may not
 *   load for this process, fails `listen`.
 *
 * Why `auto` moves local connections off BBR: BBR paces its sending to a model of the path's
 * bottleneck bandwidth and round-trip time (it has the kernel pace the socket; a CUBIC socket
 * without a pacing qdisc sends as fast as its acks allow). Over loopback there is no such path, and
 * the two ends share the host's CPUs. Measured on the 2-core bench machine (bbr the system
 * default), 1 MiB NBD reads, a server per setting side by side and fio alternating between them:
 * 2.0-2.9 GB/s on BBR, 3.1-4.6 GB/s on CUBIC. The host sent 11 to 26 times as many inter-processor
 * interrupts with BBR (1.8-3.1K/s against 117-164/s, two runs each). Both had spurious
 * retransmissions (segments out of order at the receiver), CUBIC no fewer, so those are not the
 * difference. Small requests moved neither way. Over a real network the administrator's choice
 * stands.
 */
import type net from 'node:net';
import { native, socketFd } from './native.js';

export const TCP_CONGESTION_AUTO = 'auto';
export const TCP_CONGESTION_SYSTEM = 'system';

/** What `auto` gives a local connection that the kernel gave BBR. */
const LOCAL_ALGORITHM = 'cubic';

/** Thrown by `listen` when the named algorithm cannot be set. */
export class TcpCongestionError extends Error {
  constructor(
    readonly algorithm: string,
    readonly code: string,
  ) {
    super(
      code === 'ENOENT'
        ? `TCP congestion control '${algorithm}' is not available on this host ` +
            `(see /proc/sys/net/ipv4/tcp_available_congestion_control)`
        : `TCP congestion control '${algorithm}' cannot be set: ${code}`,
    );
    this.name = 'TcpCongestionError';
  }
}

/**
 * Applies an explicit algorithm to a listening TCP socket, for every connection it accepts.
 * `auto` and `system` change nothing here; nor does a Unix socket. Throws TcpCongestionError.
 */
export function applyListenerCongestion(server: net.Server, choice: string): void {
  if (choice === TCP_CONGESTION_AUTO || choice === TCP_CONGESTION_SYSTEM) return;
  const address = server.address();
  if (address === null || typeof address === 'string') return;
  const fd = socketFd(server);
  const set = native().tcpCongestion;
  if (fd === undefined || !set) {
    throw new TcpCongestionError(choice, 'ENOSYS');
  }
  try {
    set(fd, choice);
  } catch (err) {
    throw new TcpCongestionError(choice, (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN');
  }
}

/**
 * Starts `server` listening at `where` (a TCP port on a host, or a Unix socket path) and applies
 * `choice` to it (applyListenerCongestion). All or nothing: when the congestion control cannot be
 * set, the server is closed again before the error is thrown, so a failed listen holds no port.
 */
export async function listenTuned(
  server: net.Server,
  where: { host?: string; port: number } | { path: string },
  choice: string,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in where) server.listen(where.path, done);
    else server.listen(where.port, where.host, done);
  });
  try {
    applyListenerCongestion(server, choice);
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw err;
  }
}

/** Whether a connection's two ends are on this host (its segments go over loopback). */
export function isLocalConnection(socket: net.Socket): boolean {
  const remote = socket.remoteAddress;
  if (remote === undefined) return false;
  const plain = remote.startsWith('::ffff:') ? remote.slice(7) : remote;
  return plain === '::1' || plain.startsWith('127.') || remote === socket.localAddress;
}

/**
 * The `auto` policy for one accepted connection: a local one on BBR goes to CUBIC. Returns the
 * algorithm the connection now uses, or undefined where that cannot be known (a Unix socket, no
 * native helper). A failure to change it leaves the system's choice: it is a tuning, not a need.
 */
export function tuneAcceptedCongestion(socket: net.Socket, choice: string): string | undefined {
  const fd = socketFd(socket);
  const get = native().tcpCongestion;
  if (fd === undefined || !get || socket.remoteAddress === undefined) return undefined;
  try {
    const current = get(fd);
    if (choice !== TCP_CONGESTION_AUTO || current !== 'bbr' || !isLocalConnection(socket)) return current;
    return get(fd, LOCAL_ALGORITHM);
  } catch {
    return undefined;
  }
}
