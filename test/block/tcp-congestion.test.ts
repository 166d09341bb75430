/**
 * TCP congestion control of accepted connections (block/tcp-congestion.ts, native tcpCongestion):
 * the native helper reads and sets TCP_CONGESTION and reports a bad name or a non-socket as an
 * errno error; an algorithm named for a listening socket reaches every connection it accepts,
 * and an unknown one fails with a message naming it (`listenTuned` then closes the listener it
 * opened); `auto` moves a connection from this host
 * off BBR and leaves any other algorithm alone; `system` leaves BBR; the NBD server applies its
 * option and reports the algorithm in its connection stats.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import {
  applyListenerCongestion,
  isLocalConnection,
  listenTuned,
  MemoryDevice,
  native,
  socketFd,
  TcpCongestionError,
  tuneAcceptedCongestion,
} from '../../src/block/index.js';
import { NbdExport, NbdServer } from '../../src/nbd/index.js';
import { congestionCases } from '../helpers/congestion.js';

const tcpCongestion = native().tcpCongestion;
const noHelper = tcpCongestion ? false : 'the native helper has no tcpCongestion';

/** The socket's descriptor (block/native.ts, socketFd), which these tests need to have. */
function fdOf(s: net.Socket | net.Server): number {
  const fd = socketFd(s);
  assert.ok(fd !== undefined, 'the socket has a descriptor');
  return fd;
}

/** Listens on 127.0.0.1, lets `setup` tune the listener, and yields both ends of one connection. */
async function connectedPair(
  setup: (server: net.Server) => void = () => {},
): Promise<{ server: net.Server; accepted: net.Socket; client: net.Socket; close: () => Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  setup(server);
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const a = await accepted;
  return {
    server,
    accepted: a,
    client,
    close: async () => {
      client.destroy();
      a.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Whether this kernel lets us put a socket on BBR (the tcp_bbr module, loaded on demand as root). */
async function bbrUsable(): Promise<boolean> {
  if (!tcpCongestion) return false;
  const p = await connectedPair();
  try {
    return tcpCongestion(fdOf(p.accepted), 'bbr') === 'bbr';
  } catch {
    return false;
  } finally {
    await p.close();
  }
}

const noBbr = (await bbrUsable()) ? false : 'this kernel cannot put a socket on BBR';

test(
  'native tcpCongestion reads and sets the algorithm; bad names and non-sockets throw',
  { skip: noHelper },
  async () => {
    const p = await connectedPair();
    try {
      const fd = fdOf(p.accepted);
      const system = fs.readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
      assert.equal(tcpCongestion!(fd), system);
      assert.equal(tcpCongestion!(fd, 'reno'), 'reno');
      assert.equal(tcpCongestion!(fd), 'reno');
      assert.throws(() => tcpCongestion!(fd, 'nosuchalgo'), { code: 'ENOENT' });
      assert.equal(tcpCongestion!(fd), 'reno', 'a failed set changes nothing');
      // A name too long for the kernel's 16-byte field is refused, not cut to another name.
      assert.throws(() => tcpCongestion!(fd, 'reno'.padEnd(16, 'x')), { code: 'EINVAL' });
      assert.throws(() => tcpCongestion!(fd, ''), { code: 'EINVAL' });
      assert.equal(tcpCongestion!(fd), 'reno');
      const file = fs.openSync('/proc/self/stat', 'r');
      try {
        assert.throws(() => tcpCongestion!(file), { code: 'ENOTSOCK' });
      } finally {
        fs.closeSync(file);
      }
    } finally {
      await p.close();
    }
  },
);

test(
  'an algorithm named for the listener reaches the connections it accepts',
  { skip: noHelper },
  async () => {
    const p = await connectedPair((s) => applyListenerCongestion(s, 'reno'));
    try {
      assert.equal(tcpCongestion!(fdOf(p.server)), 'reno');
      assert.equal(tcpCongestion!(fdOf(p.accepted)), 'reno');
      assert.equal(tuneAcceptedCongestion(p.accepted, 'reno'), 'reno');
      // auto keeps any algorithm but BBR, on a local connection too.
      assert.equal(tuneAcceptedCongestion(p.accepted, 'auto'), 'reno');
    } finally {
      await p.close();
    }
  },
);

test('an unknown algorithm fails at the listener with a message naming it', { skip: noHelper }, async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    assert.throws(
      () => applyListenerCongestion(server, 'nosuchalgo'),
      (err: unknown) =>
        err instanceof TcpCongestionError &&
        err.code === 'ENOENT' &&
        /'nosuchalgo' is not available on this host/.test(err.message),
    );
    // auto and system leave the listener as the system made it.
    const before = tcpCongestion!(fdOf(server));
    applyListenerCongestion(server, 'auto');
    applyListenerCongestion(server, 'system');
    assert.equal(tcpCongestion!(fdOf(server)), before);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test(
  'listenTuned: an unknown algorithm closes the listener again; reno is set on it',
  { skip: noHelper },
  async () => {
    const failed = net.createServer();
    await assert.rejects(
      listenTuned(failed, { host: '127.0.0.1', port: 0 }, 'nosuchalgo'),
      (err: unknown) => err instanceof TcpCongestionError && err.code === 'ENOENT',
    );
    assert.equal(failed.listening, false, 'the failed listener holds no port');
    const server = net.createServer();
    await listenTuned(server, { host: '127.0.0.1', port: 0 }, 'reno');
    try {
      assert.equal(server.listening, true);
      assert.equal(tcpCongestion!(fdOf(server)), 'reno');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  },
);

test(
  'auto moves a local connection off BBR; system leaves it there',
  { skip: noHelper || noBbr },
  async () => {
    const p = await connectedPair((s) => applyListenerCongestion(s, 'bbr'));
    try {
      assert.equal(tcpCongestion!(fdOf(p.accepted)), 'bbr');
      assert.equal(tuneAcceptedCongestion(p.accepted, 'system'), 'bbr');
      assert.equal(tcpCongestion!(fdOf(p.accepted)), 'bbr');
      assert.equal(tuneAcceptedCongestion(p.accepted, 'auto'), 'cubic');
      assert.equal(tcpCongestion!(fdOf(p.accepted)), 'cubic');
    } finally {
      await p.close();
    }
  },
);

test('local connections: loopback addresses, IPv4-mapped ones, and the same address at both ends', () => {
  const sock = (remoteAddress: string | undefined, localAddress: string): net.Socket =>
    ({ remoteAddress, localAddress }) as net.Socket;
  assert.equal(isLocalConnection(sock('127.0.0.1', '127.0.0.1')), true);
  assert.equal(isLocalConnection(sock('127.8.9.10', '127.0.0.1')), true);
  assert.equal(isLocalConnection(sock('::1', '::1')), true);
  assert.equal(isLocalConnection(sock('::ffff:127.0.0.1', '::ffff:127.0.0.1')), true);
  assert.equal(isLocalConnection(sock('192.0.2.7', '192.0.2.7')), true);
  assert.equal(isLocalConnection(sock('192.0.2.8', '192.0.2.7')), false);
  assert.equal(isLocalConnection(sock('::ffff:192.0.2.8', '::ffff:192.0.2.7')), false);
  assert.equal(isLocalConnection(sock(undefined, '')), false);
});

test(
  'the NBD server applies its option and reports the algorithm of each connection',
  { skip: noHelper },
  async () => {
    for (const [choice, expected] of congestionCases()) {
      const server = new NbdServer({
        exports: [new NbdExport({ name: 'm', device: new MemoryDevice(1 << 20) })],
        tcpCongestion: choice,
      });
      await server.listen({ host: '127.0.0.1', port: 0 });
      const client = net.connect(server.port, '127.0.0.1');
      try {
        await new Promise<void>((resolve) => client.once('data', () => resolve()));
        const stats = server.stats();
        assert.equal(stats.length, 1);
        assert.equal(stats[0]!.tcpCongestion, expected, `tcpCongestion ${choice}`);
      } finally {
        client.destroy();
        await server.close();
      }
    }
    const bad = new NbdServer({
      exports: [new NbdExport({ name: 'm', device: new MemoryDevice(1 << 20) })],
      tcpCongestion: 'nosuchalgo',
    });
    await assert.rejects(bad.listen({ host: '127.0.0.1', port: 0 }), TcpCongestionError);
    await bad.close();
  },
);
