/**
 * IscsiServer.listen is all or nothing: when one portal cannot be bound, or its congestion control
 * cannot be set, the portals the call already opened are closed again, so a failed listen leaves
 * no port open and no portal listed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { native, TcpCongestionError } from '../../src/block/index.js';
import { IscsiServer } from '../../src/iscsi/index.js';
import { FakeRouter, TARGET } from './helpers.js';

/** Listens on a free loopback port; the caller closes the server. */
async function occupy(port = 0): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

function portOf(server: net.Server): number {
  const a = server.address();
  assert.ok(a && typeof a !== 'string');
  return a.port;
}

async function close(server: net.Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A port that was free a moment ago (bound, then released). */
async function freePort(): Promise<number> {
  const s = await occupy();
  const port = portOf(s);
  await close(s);
  return port;
}

/** Fails unless `port` can be bound now: a listener left open would hold it (EADDRINUSE). */
async function assertReleased(port: number): Promise<void> {
  const s = await occupy(port);
  await close(s);
}

test('a portal that cannot bind closes the portals opened before it', async () => {
  const busy = await occupy();
  const first = await freePort();
  const server = new IscsiServer({ targets: [{ name: TARGET, router: new FakeRouter() }] });
  try {
    await assert.rejects(
      server.listen([
        { host: '127.0.0.1', port: first },
        { host: '127.0.0.1', port: portOf(busy) },
      ]),
      (err: unknown) => (err as { code?: string }).code === 'EADDRINUSE',
    );
    assert.deepEqual(server.portals, []);
    await assertReleased(first);
    // The server can still listen once the cause is gone.
    const bound = await server.listen([{ host: '127.0.0.1', port: 0 }]);
    assert.equal(bound.length, 1);
    assert.equal(server.portals.length, 1);
  } finally {
    await server.close(0);
    await close(busy);
  }
});

test(
  'an unknown congestion control closes the portal it was set on',
  { skip: native().tcpCongestion ? false : 'the native helper has no tcpCongestion' },
  async () => {
    const port = await freePort();
    const server = new IscsiServer({
      targets: [{ name: TARGET, router: new FakeRouter() }],
      tcpCongestion: 'nosuchalgo',
    });
    try {
      await assert.rejects(
        server.listen([{ host: '127.0.0.1', port }]),
        (err: unknown) => err instanceof TcpCongestionError && err.code === 'ENOENT',
      );
      assert.deepEqual(server.portals, []);
      await assertReleased(port);
    } finally {
      await server.close(0);
    }
  },
);
