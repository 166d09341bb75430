/**
 * FileSender (block/file-sender.ts, native/sendfile.c): a reply (header, then a file range)
 * arrives whole and in order, also when the socket fills and the sender waits for room; a file
 * that ends early or a peer that is gone loses the stream; the source is finished exactly once in
 * every case; and HostFile hands out read sources only for files on tmpfs with no holes, holding
 * `close` until they are finished.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  FileSender,
  HostFile,
  socketFd,
  type HostReadSource,
  type SendOutcome,
} from '../../src/block/index.js';
import { tmpDir } from '../helpers/tmp.js';

function bytes(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = ((i * 131 + seed) % 251) + 1;
  return b;
}

/** A connected pair: `server` (accepted paused) and `client`. */
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

/** A file of `size` zero bytes in a fresh directory (under `base`, else the OS temp dir). */
function zeroFile(size: number, base?: string): string {
  const file = path.join(tmpDir('vdisk-sendfile-', base), 'f.raw');
  fs.writeFileSync(file, Buffer.alloc(size));
  return file;
}

/** The socket's descriptor (block/native.ts, socketFd), which these tests need to have. */
function fdOf(s: net.Socket): number {
  const fd = socketFd(s);
  assert.ok(fd !== undefined, 'the socket has a descriptor');
  return fd;
}

function countedSource(fd: number, position: number): HostReadSource & { finished: number } {
  const src = { fd, position, finished: 0, finish: () => void src.finished++ };
  return src;
}

interface Rig {
  fd: number;
  client: net.Socket;
  s: FileSender;
}

/**
 * A zero file of `size` bytes, a socket pair, and a file sender on the pair's server side, for
 * `fn`; the sockets and the file are closed after it.
 */
async function withSender(size: number, fn: (r: Rig) => Promise<void>): Promise<void> {
  const fd = fs.openSync(zeroFile(size), 'r+');
  const { server, client, close } = await pair();
  try {
    const s = FileSender.open(fdOf(server));
    assert.ok(s, 'sendfile(2) is available on this machine');
    await fn({ fd, client, s });
  } finally {
    close();
    fs.closeSync(fd);
  }
}

const SHM = fs.existsSync('/dev/shm') ? '/dev/shm' : undefined;

/**
 * Closes `f` and checks that the close waits until `lease` (a read source) is finished,
 * finishing it twice (only the first counts).
 */
async function closeWaitsFor(f: HostFile, lease: { finish(): void }, what: string): Promise<void> {
  let closed = false;
  const closing = f.close().then(() => (closed = true));
  await sleep(20);
  assert.equal(closed, false, `close waits for ${what}`);
  lease.finish();
  lease.finish(); // once only
  await closing;
}
const onTmpfs = (p: string): boolean => fs.statfsSync(p).type === 0x01021994;

/** The outcome of a send, at once or from the callback. */
function sendAll(s: FileSender, header: Buffer, source: HostReadSource, length: number) {
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
  await withSender(8 << 20, async ({ fd, client, s }) => {
    const data = bytes(6 << 20, 5);
    fs.writeSync(fd, data, 0, data.length, 4096);
    const header = Buffer.from('a 28-byte header, then data');
    const src = countedSource(fd, 4096);
    client.pause();
    const sent = sendAll(s, header, src, data.length);
    await sleep(30);
    // 6 MiB do not fit in the socket buffers of an idle reader: the sender waits for room.
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
  await withSender(1 << 20, async ({ fd, client, s }) => {
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
  await withSender(8 << 20, async ({ fd, client, s }) => {
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
    const onDisk = await HostFile.open(zeroFile(1 << 20), { lock: false });
    if (!onTmpfs(os.tmpdir())) assert.equal(onDisk.readSource(0, 4096), undefined);
    await onDisk.close();
    const sparsePath = path.join(tmpDir('vdisk-sendfile-', SHM), 'sparse.raw');
    fs.writeFileSync(sparsePath, bytes(4096, 1));
    fs.truncateSync(sparsePath, 1 << 20);
    const sparse = await HostFile.open(sparsePath, { readOnly: true, lock: false });
    assert.equal(sparse.readSource(0, 4096), undefined, 'a file with holes');
    await sparse.close();

    const file = zeroFile(1 << 20, SHM);
    const f = await HostFile.open(file, { readOnly: true, lock: false });
    assert.equal(f.readSource((1 << 20) - 4096, 8192), undefined, 'past the end of the file');
    const src = f.readSource(4096, 65536);
    assert.ok(src);
    assert.equal(src.position, 4096);
    await closeWaitsFor(f, src, 'the source');
  },
);
