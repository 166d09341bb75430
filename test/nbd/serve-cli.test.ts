/**
 * `vdisk nbd serve` as a process:
 *
 * - the multi-conn promise: a write completed on connection A, a flush on connection B, then
 *   kill -9: the data is in the image (qcow2, whose metadata lives in vdisk's write-back cache
 *   until a flush, so a flush that did not cover A's write would lose it);
 * - SIGTERM with writes in flight: every acknowledged write is in the image, the rest were
 *   answered with ESHUTDOWN, the process exits 0 and the image is clean;
 * - export names, descriptions, -r, a Unix socket, and bad arguments answered with one line.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { aioUnavailable } from '../../src/block/index.js';
import { NBD_CMD, NBD_ERRNO } from '../../src/nbd/index.js';
import { assertQemuCheckClean, pattern, qemuImgOk, qemuIo, qemuIoOk, readAt } from '../helpers/qemu.js';
import { spawnServing, VDISK, type ServingProcess } from '../helpers/serve.js';
import { directIoUnavailable, tmpDir } from '../helpers/tmp.js';
import { describeRun, RawClient, run, skipWithout } from './helpers.js';

const skip = await skipWithout('qemu-img', 'qemu-io', 'nbdinfo');

/** Starts `vdisk nbd serve ARGS` and waits for the URIs it prints. */
async function startServer(args: string[], exports = 1): Promise<ServingProcess & { uris: string[] }> {
  const s = await spawnServing(['nbd', 'serve', ...args], exports);
  return { ...s, uris: s.lines };
}

const portOf = (uri: string): number => Number(/:(\d+)\//.exec(uri)![1]);

describe('vdisk nbd serve', { skip }, () => {
  if (skip) return;
  const dir = tmpDir('vdisk-nbd-cli-');

  test('multi-conn: a flush on connection B makes a write done on connection A durable (kill -9)', async (t) => {
    const img = path.join(dir, 'mc.qcow2');
    qemuImgOk(['create', '-q', '-f', 'qcow2', img, '64M']);
    const srv = await startServer(['-b', '127.0.0.1', '-p', '0', img]);
    const port = portOf(srv.uris[0]!);
    const a = await RawClient.connect(port);
    const b = await RawClient.connect(port);
    await a.go('mc.qcow2');
    await b.go('mc.qcow2');
    const data = pattern(256 * 1024, 5);
    a.request({ flags: 0, type: NBD_CMD.WRITE, handle: 1n, offset: 8 << 20, length: data.length }, data);
    assert.equal((await a.simpleReply()).error, 0);
    b.request({ flags: 0, type: NBD_CMD.FLUSH, handle: 2n, offset: 0, length: 0 });
    assert.equal((await b.simpleReply()).error, 0);
    // Written on A after the flush: not covered by it (reported, not asserted).
    a.request({ flags: 0, type: NBD_CMD.WRITE, handle: 3n, offset: 32 << 20, length: data.length }, data);
    assert.equal((await a.simpleReply()).error, 0);
    srv.proc.kill('SIGKILL');
    await srv.exited;
    const got = qemuIo(img, ['read -P 0 32M 256k'], 'qcow2');
    t.diagnostic(
      `unflushed write after kill -9: ${/Pattern verification failed/.test(got.stdout) ? 'present' : 'lost'}`,
    );
    const check = path.join(dir, 'mc-check.raw');
    qemuImgOk(['convert', '-f', 'qcow2', '-O', 'raw', img, check]);
    assert.deepEqual(readAt(check, 8 << 20, data.length), data, 'the flushed write survived kill -9');
    const r = await run('qemu-img', ['check', img]);
    assert.ok(r.status === 0 || r.status === 3, describeRun(r));
  });

  test('SIGTERM with writes in flight: acknowledged writes are there, the rest get ESHUTDOWN, exit 0', async () => {
    const img = path.join(dir, 'term.qcow2');
    qemuImgOk(['create', '-q', '-f', 'qcow2', img, '64M']);
    const srv = await startServer(['-b', '127.0.0.1', '-p', '0', img]);
    const c = await RawClient.connect(portOf(srv.uris[0]!));
    await c.go('term.qcow2');
    const n = 256;
    const chunk = 64 * 1024;
    const write = (i: number) =>
      c.request(
        { flags: 0, type: NBD_CMD.WRITE, handle: BigInt(i), offset: i * chunk, length: chunk },
        Buffer.alloc(chunk, (i % 250) + 1),
      );
    const acked: number[] = [];
    // The signal comes once the server is known to be writing (one reply is in), so that some
    // writes are acknowledged whatever the timing; the rest are still on their way.
    for (let i = 0; i < 16; i++) write(i);
    const first = await c.simpleReply();
    assert.equal(first.error, 0);
    acked.push(Number(first.handle));
    for (let i = 16; i < n; i++) {
      write(i);
      if (i === 32) srv.proc.kill('SIGTERM');
    }
    for (;;) {
      let r;
      try {
        r = await c.simpleReply();
      } catch {
        break; // the server closed the connection
      }
      if (r.error === 0) acked.push(Number(r.handle));
      else assert.equal(r.error, NBD_ERRNO.ESHUTDOWN);
    }
    assert.equal(await srv.exited, 0, srv.stderr());
    assert.ok(acked.length > 0);
    assertQemuCheckClean(img, 'after SIGTERM');
    const cmds = acked.slice(0, 64).map((i) => `read -P ${(i % 250) + 1} ${i * chunk} ${chunk}`);
    qemuIoOk(img, cmds, 'qcow2');
  });

  test('names, descriptions, read-only and a Unix socket', async () => {
    const one = path.join(dir, 'one.raw');
    const two = path.join(dir, 'two.raw');
    qemuImgOk(['create', '-q', '-f', 'raw', one, '1M']);
    qemuImgOk(['create', '-q', '-f', 'raw', two, '2M']);
    const sock = path.join(dir, 'nbd.sock');
    const srv = await startServer(
      ['-r', '-k', sock, '-x', 'first', '-x', 'second', '-D', 'shared', one, two],
      2,
    );
    assert.deepEqual(srv.uris, [
      `nbd+unix:///first?socket=${encodeURIComponent(sock)}`,
      `nbd+unix:///second?socket=${encodeURIComponent(sock)}`,
    ]);
    const r = await run('nbdinfo', ['--list', '--json', srv.uris[0]!]);
    assert.equal(r.status, 0, describeRun(r));
    const list = JSON.parse(r.stdout) as { exports: Record<string, unknown>[] };
    assert.deepEqual(
      list.exports.map((e) => [e['export-name'], e['description'], e['export-size'], e['is_read_only']]),
      [
        ['first', 'shared', 1 << 20, true],
        ['second', 'shared', 2 << 20, true],
      ],
    );
    srv.proc.kill('SIGINT');
    assert.equal(await srv.exited, 0);
  });

  for (const aio of ['io_uring', 'native'] as const) {
    const cache = aio === 'native' ? 'none' : 'writeback';
    const why = aioUnavailable(aio) ?? (aio === 'native' ? directIoUnavailable(dir) : undefined);
    test(
      `--aio ${aio} --cache ${cache}: qemu-io writes and reads a qcow2 image through it`,
      { skip: why },
      async () => {
        const img = path.join(dir, `aio-${aio}.qcow2`);
        qemuImgOk(['create', '-q', '-f', 'qcow2', img, '64M']);
        const srv = await startServer(['-b', '127.0.0.1', '-p', '0', '--aio', aio, '--cache', cache, img]);
        const uri = srv.uris[0]!;
        const w = await run('qemu-io', [
          '-f',
          'raw',
          '-c',
          'write -P 0x5a 1M 3M',
          '-c',
          'write -P 0x33 7k 9k',
          '-c',
          'flush',
          uri,
        ]);
        assert.equal(w.status, 0, describeRun(w));
        const r = await run('qemu-io', [
          '-f',
          'raw',
          '-c',
          'read -P 0x5a 1M 7k',
          '-c',
          'read -P 0x33 7k 9k',
          '-c',
          'read -P 0 5M 1M',
          uri,
        ]);
        assert.equal(r.status, 0, describeRun(r));
        assert.doesNotMatch(r.stdout, /Pattern verification failed/, describeRun(r));
        srv.proc.kill('SIGTERM');
        assert.equal(await srv.exited, 0, srv.stderr());
        assertQemuCheckClean(img, `after aio=${aio}`);
      },
    );
  }

  test('bad arguments: one line on stderr and exit 1', async () => {
    const img = path.join(dir, 'bad.raw');
    qemuImgOk(['create', '-q', '-f', 'raw', img, '1M']);
    const cases: [string[], RegExp][] = [
      [['-p', '1', '-k', '/tmp/x', img], /exclude each other/],
      [['-p', 'http', img], /invalid port/],
      [['--discard', 'maybe', img], /invalid discard mode/],
      [['-e', '0', img], /invalid connection limit/],
      [[img, img], /two exports are named/],
      [['-x', 'a', '-x', 'b', img], /2 export names/],
      [['--cache', 'sometimes', img], /invalid cache mode/],
      [['--aio', 'fast', img], /invalid aio mode/],
      [['-p', '0', '--aio', 'native', img], /aio=native requires a direct cache mode/],
      [['-p', '0', path.join(dir, 'missing.raw')], /missing\.raw/],
      [['--tls-creds', path.join(dir, 'nocreds'), img], /server-cert\.pem is missing/],
      [['--tls-psk', img, img], /identity:hexkey|no keys/],
      [['--poll-max-ns', '1us', img], /invalid --poll-max-ns/],
      [['--poll-max-ns', '20000000', img], /invalid --poll-max-ns/],
      [['--tcp-congestion', 'Fast!', img], /invalid --tcp-congestion 'Fast!'/],
      [['-p', '0', '--tcp-congestion', 'nosuchalgo', img], /'nosuchalgo' is not available on this host/],
    ];
    for (const [args, msg] of cases) {
      const r = await run(process.execPath, [VDISK, 'nbd', 'serve', ...args]);
      assert.equal(r.status, 1, describeRun(r));
      assert.match(r.stderr, msg, describeRun(r));
      assert.equal(r.stderr.trim().split('\n').length, 1, describeRun(r));
    }
    const r = await run(process.execPath, [VDISK, 'nbd']);
    assert.match(r.stderr, /missing command: try 'vdisk nbd --help'/);
  });
});
