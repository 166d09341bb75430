/**
 * The iSCSI server's TCP congestion option (block/tcp-congestion.ts): a named algorithm reaches
 * every accepted connection, `system` keeps the system's choice, `auto` moves a connection from
 * this host off BBR, each connection's stats report what it uses, and an unknown algorithm fails
 * `listen` with a message naming it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, TcpCongestionError } from '../../src/block/index.js';
import { IscsiServer } from '../../src/iscsi/index.js';
import { congestionCases } from '../helpers/congestion.js';
import { FakeRouter, RawInitiator, serveIscsi, TARGET, until } from './helpers.js';

const noHelper = native().tcpCongestion ? false : 'the native helper has no tcpCongestion';

test('each connection uses and reports the algorithm the option asks for', { skip: noHelper }, async () => {
  for (const [choice, expected] of congestionCases()) {
    const { server, port } = await serveIscsi({}, { tcpCongestion: choice });
    const ini = await RawInitiator.connect(port);
    try {
      await ini.login([], { isid: 1 });
      await until(() => server.stats()[0]?.phase === 'full', 2000, 'the login');
      const stats = server.stats();
      assert.equal(stats.length, 1);
      assert.equal(stats[0]!.tcpCongestion, expected, `tcpCongestion ${choice}`);
    } finally {
      ini.socket.destroy();
      await server.close(100);
    }
  }
});

test('an unknown algorithm fails listen, naming it', { skip: noHelper }, async () => {
  const server = new IscsiServer({
    targets: [{ name: TARGET, router: new FakeRouter() }],
    tcpCongestion: 'nosuchalgo',
  });
  try {
    await assert.rejects(
      server.listen([{ host: '127.0.0.1', port: 0 }]),
      (err: unknown) =>
        err instanceof TcpCongestionError &&
        err.code === 'ENOENT' &&
        /'nosuchalgo' is not available on this host/.test(err.message),
    );
  } finally {
    await server.close(0);
  }
});
