/**
 * SocketSplicer (block/splice.ts, native/splice.c). In: a payload arriving on a TCP socket in
 * pieces lands in the file at its position, head bytes included; a file that refuses the bytes
 * still has the payload consumed, so the bytes behind it are intact on the socket; a peer that
 * ends mid-payload loses the stream; the target is finished exactly once in every case; and
 * HostFile hands out targets only for buffered, writable files, holding `close` until finished.
 * Out: a reply (header, then a file range) arrives whole and in order, also when the socket
 * fills and the splicer waits for room; a file that ends early or a peer that is gone loses the
 * stream; HostFile hands out read sources only for files on tmpfs with no holes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  HostFile,
  SocketSplicer,
  socketFd,
  type HostReadSource,
  type HostWriteTarget,
  type SendOutcome,
  type SpliceOutcome,
} from '../../src/block/index.js';
import { tmpDir } from '../helpers/tmp.js';

function bytes(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = ((i * 131 + seed) % 251) + 1;
  return b;
}

/** A connected pair: `server` is accepted paused (nothing reads it), `client` writes. */
async function pair(): Promise<{ server: net.Socket; client: net.Socket; close: () => void }> {
  const srv = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  const server = await accepted;
  return {
    server,
    client,
    close: () => {
      client.destroy();
      server.destroy();
      srv.close();
    },
  };
}

/** A file of `size` zero bytes in a fresh directory, opened `flags`. */
function zeroFile(size: number, flags = 'r+', base?: string): { file: string; fd: number } {
  const file = path.join(tmpDir('vdisk-splice-', base), 'f.raw');
  fs.writeFileSync(file, Buffer.alloc(size));
  return { file, fd: fs.openSync(file, flags) };
}

/** The socket's descriptor (block/splice.ts, socketFd), which these tests need to have. */
function fdOf(s: net.Socket): number {
  const fd = socketFd(s);
  assert.ok(fd !== undefined, 'the socket has a descriptor');
  return fd;
}

function countedTarget(fd: number, position: number): HostWriteTarget & { finished: number } {
  const t = { fd, position, finished: 0, finish: () => void t.finished++ };
  return t;
}

function countedSource(fd: number, position: number): HostReadSource & { finished: number } {
  return countedTarget(fd, position);
}

interface Rig {
  file: string;
  fd: number;
  server: net.Socket;
  client: net.Socket;
  s: SocketSplicer;
}

/**
 * A zero file of `size` bytes opened `flags`, a socket pair, and a splicer on the pair's server
 * side, for `fn`; the sockets and the file are closed after it.
 */
async function withSplicer(size: number, flags: string, fn: (r: Rig) => Promise<void>): Promise<void> {
  const { file, fd } = zeroFile(size, flags);
  const { server, client, close } = await pair();
  try {
    const s = SocketSplicer.open(fdOf(server));
    assert.ok(s, 'splice(2) is available on this machine');
    await fn({ file, fd, server, client, s });
  } finally {
    close();
    fs.closeSync(fd);
  }
}

/** The outcome, at once or from the callback. */
function spliceAll(s: SocketSplicer, target: HostWriteTarget, head: Buffer, length: number) {
  return new Promise<SpliceOutcome>((resolve) => {
    const now = s.write(target, head, length, resolve);
    if (now) resolve(now);
  });
}

test('a payload sent in pieces lands at its position, head bytes first', async () => {
  await withSplicer(4 << 20, 'r+', async ({ file, fd, client, s }) => {
    const payload = bytes(3 << 20, 7);
    const head = payload.subarray(0, 1000);
    const t = countedTarget(fd, 12345);
    const done = spliceAll(s, t, head, payload.length);
    // The rest arrives in three pieces with pauses, so the splicer waits for input in between.
    const rest = payload.subarray(head.length);
    for (const [a, b] of [
      [0, 5000],
      [5000, 1 << 20],
      [1 << 20, rest.length],
    ] as const) {
      client.write(rest.subarray(a, b));
      await sleep(30);
    }
    const o = await done;
    assert.deepEqual(o, { kind: 'consumed', error: undefined });
    assert.equal(t.finished, 1);
    assert.equal(s.busy, false);
    const got = Buffer.alloc(payload.length);
    fs.readSync(fd, got, 0, got.length, 12345);
    assert.ok(got.equals(payload), 'the file holds the payload');
    assert.equal(
      fs
        .readFileSync(file)
        .subarray(0, 12345)
        .some((b) => b !== 0),
      false,
      'nothing before it',
    );
    s.close();
    s.close(); // a second close is harmless
  });
});

test('a file that refuses the bytes: the payload is still consumed, the next bytes are intact', async () => {
  // Opened read-only: writes fail with EBADF.
  await withSplicer(1 << 20, 'r', async ({ fd: roFd, server, client, s }) => {
    const payload = bytes(512 * 1024, 3);
    const trailer = Buffer.from('the next request');
    client.write(Buffer.concat([payload, trailer]));
    await sleep(50);
    const t = countedTarget(roFd, 0);
    const o = await spliceAll(s, t, Buffer.alloc(0), payload.length);
    assert.equal(o.kind, 'consumed');
    assert.equal(o.kind === 'consumed' && o.error?.code, 'IO');
    assert.equal(t.finished, 1);
    s.close();
    // The socket's own reader takes over exactly where the payload ended.
    const next = await new Promise<Buffer>((resolve) => {
      server.once('data', resolve);
      server.resume();
    });
    assert.equal(next.toString(), trailer.toString());
  });
});

test('a peer that ends mid-payload loses the stream; the target is finished', async () => {
  await withSplicer(1 << 20, 'r+', async ({ fd, client, s }) => {
    const t = countedTarget(fd, 0);
    const done = spliceAll(s, t, Buffer.alloc(0), 1 << 20);
    client.end(bytes(100_000, 1));
    const o = await done;
    assert.equal(o.kind, 'lost');
    assert.equal(t.finished, 1);
    // The bytes that did come are in the file (a write that was never acknowledged may be torn).
    const got = Buffer.alloc(100_000);
    fs.readSync(fd, got, 0, got.length, 0);
    assert.ok(got.equals(bytes(100_000, 1)));
    s.close();
  });
});

test('close while a payload waits: no outcome, the target finished, the socket reads as before', async () => {
  await withSplicer(1 << 20, 'r+', async ({ fd, server, client, s }) => {
    const t = countedTarget(fd, 0);
    let outcomes = 0;
    assert.equal(
      s.write(t, Buffer.alloc(0), 1 << 20, () => outcomes++),
      undefined,
    );
    assert.equal(s.busy, true);
    s.close();
    await sleep(20);
    assert.equal(t.finished, 1);
    assert.equal(outcomes, 0);
    assert.throws(() => s.write(t, Buffer.alloc(0), 10, () => {}), /closed/);
    // The receive low-water mark raised while waiting is back at 1: a few bytes wake the reader.
    const got = new Promise<Buffer>((resolve) => server.once('data', resolve));
    server.resume();
    client.write('tail');
    const first = await Promise.race([got, sleep(1000).then(() => undefined)]);
    assert.equal(first?.toString(), 'tail');
  });
});

const SHM = fs.existsSync('/dev/shm') ? '/dev/shm' : undefined;

/**
 * Closes `f` and checks that the close waits until `lease` (a write target or read source) is
 * finished, finishing it twice (only the first counts); `finished` runs between the two.
 */
async function closeWaitsFor(
  f: HostFile,
  lease: { finish(): void },
  what: string,
  finished?: () => void,
): Promise<void> {
  let closed = false;
  const closing = f.close().then(() => (closed = true));
  await sleep(20);
  assert.equal(closed, false, `close waits for ${what}`);
  lease.finish();
  lease.finish(); // once only
  finished?.();
  await closing;
}
const onTmpfs = (p: string): boolean => fs.statfsSync(p).type === 0x01021994;

test(
  'HostFile gives write targets only for buffered writable files on tmpfs, and close waits for them',
  {
    skip: SHM ? false : 'no tmpfs at /dev/shm',
  },
  async () => {
    const onDisk = await HostFile.open(zeroFile(1 << 20).file, { lock: false });
    // A file on a disk: the caller would write on the event loop, which may wait for writeback.
    if (!onTmpfs(os.tmpdir())) assert.equal(onDisk.writeTarget(0, 4096), undefined);
    await onDisk.close();
    const { file, fd: spare } = zeroFile(1 << 20, 'r+', SHM);
    fs.closeSync(spare);
    const ro = await HostFile.open(file, { readOnly: true, lock: false });
    assert.equal(ro.writeTarget(0, 4096), undefined);
    await ro.close();
    const wt = await HostFile.open(file, { cache: 'writethrough', lock: false });
    assert.equal(wt.writeTarget(0, 4096), undefined);
    await wt.close();

    const f = await HostFile.open(file, { lock: false });
    const t = f.writeTarget(2 << 20, 4096); // past the end: the file grows when it is finished
    assert.ok(t);
    assert.equal(t.position, 2 << 20);
    fs.writeSync(t.fd, bytes(4096, 9), 0, 4096, t.position);
    await closeWaitsFor(f, t, 'the target', () =>
      assert.equal(f.size, (2 << 20) + 4096, 'the size follows the write once it is finished'),
    );
    assert.equal(fs.statSync(file).size, (2 << 20) + 4096);
  },
);

/** The outcome of a send, at once or from the callback. */
function sendAll(s: SocketSplicer, header: Buffer, source: HostReadSource, length: number) {
  return new Promise<SendOutcome>((resolve) => {
    const now = s.send(header, source, length, resolve);
    if (now) resolve(now);
  });
}

/** Collects `n` bytes from a paused socket once it is resumed. */
function collect(sock: net.Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  return new Promise((resolve, reject) => {
    sock.on('data', (c: Buffer) => {
      parts.push(c);
      got += c.length;
      if (got >= n) resolve(Buffer.concat(parts));
    });
    sock.once('close', () => reject(new Error(`closed after ${got} of ${n} bytes`)));
  });
}

test('a reply goes out whole: header, then the file range, also when the socket fills', async () => {
  await withSplicer(8 << 20, 'r+', async ({ fd, client, s }) => {
    const data = bytes(6 << 20, 5);
    fs.writeSync(fd, data, 0, data.length, 4096);
    const header = Buffer.from('a 28-byte header, then data');
    const src = countedSource(fd, 4096);
    client.pause();
    const sent = sendAll(s, header, src, data.length);
    await sleep(30);
    // 6 MiB do not fit in the socket buffers of an idle reader: the splicer waits for room.
    assert.equal(s.sending, true);
    assert.equal(src.finished, 0);
    const got = collect(client, header.length + data.length);
    client.resume();
    assert.deepEqual(await sent, { kind: 'sent' });
    assert.equal(src.finished, 1);
    assert.equal(s.sending, false);
    const all = await got;
    assert.equal(all.length, header.length + data.length, 'nothing more than the reply');
    assert.ok(all.subarray(0, header.length).equals(header));
    assert.ok(all.subarray(header.length).equals(data), 'the data in order');
    // A small one completes at once.
    const second = collect(client, header.length + 4096);
    assert.deepEqual(
      s.send(header, countedSource(fd, 4096), 4096, () => {}),
      { kind: 'sent' },
    );
    assert.ok((await second).subarray(header.length).equals(data.subarray(0, 4096)));
    s.close();
  });
});

test('a file that ends early, or a peer that is gone, loses the stream; the source is finished', async () => {
  await withSplicer(1 << 20, 'r+', async ({ fd, client, s }) => {
    const early = countedSource(fd, (1 << 20) - 1000);
    const o = await sendAll(s, Buffer.from('hdr'), early, 4096);
    assert.deepEqual(o, { kind: 'lost', message: 'EIO while sending a read reply from the file' });
    assert.equal(early.finished, 1);
    client.destroy();
    await sleep(30);
    const gone = countedSource(fd, 0);
    // The peer's reset may be seen at once or on the next attempt: either way the stream is lost.
    let lost = await sendAll(s, Buffer.from('hdr'), gone, 1 << 20);
    if (lost.kind === 'sent') lost = await sendAll(s, Buffer.from('hdr'), countedSource(fd, 0), 1 << 20);
    assert.equal(lost.kind, 'lost');
    assert.equal(gone.finished, 1);
    s.close();
  });
});

test('close while a reply waits for room: no outcome, the source finished', async () => {
  await withSplicer(8 << 20, 'r+', async ({ fd, client, s }) => {
    client.pause();
    const src = countedSource(fd, 0);
    let outcomes = 0;
    assert.equal(
      s.send(Buffer.from('hdr'), src, 8 << 20, () => outcomes++),
      undefined,
    );
    s.close();
    client.resume();
    await sleep(30);
    assert.equal(src.finished, 1);
    assert.equal(outcomes, 0);
    assert.throws(() => s.send(Buffer.from('hdr'), src, 10, () => {}), /closed/);
  });
});

test(
  'HostFile gives read sources only for files on tmpfs with no holes, within the file; close waits',
  { skip: SHM ? false : 'no tmpfs at /dev/shm' },
  async () => {
    const onDisk = await HostFile.open(zeroFile(1 << 20).file, { lock: false });
    if (!onTmpfs(os.tmpdir())) assert.equal(onDisk.readSource(0, 4096), undefined);
    await onDisk.close();
    const sparsePath = path.join(tmpDir('vdisk-splice-', SHM), 'sparse.raw');
    fs.writeFileSync(sparsePath, bytes(4096, 1));
    fs.truncateSync(sparsePath, 1 << 20);
    const sparse = await HostFile.open(sparsePath, { readOnly: true, lock: false });
    assert.equal(sparse.readSource(0, 4096), undefined, 'a file with holes');
    await sparse.close();

    const { file, fd: spare } = zeroFile(1 << 20, 'r+', SHM);
    fs.closeSync(spare);
    const f = await HostFile.open(file, { readOnly: true, lock: false });
    assert.equal(f.readSource((1 << 20) - 4096, 8192), undefined, 'past the end of the file');
    const src = f.readSource(4096, 65536);
    assert.ok(src);
    assert.equal(src.position, 4096);
    await closeWaitsFor(f, src, 'the source');
  },
);
