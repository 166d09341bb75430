/**
 * Large read replies sent from a raw image file on tmpfs with sendfile(2) (connection.ts,
 * "Sending from the file"; block/file-sender.ts). Through a byte-level client: simple, structured and extended
 * replies carry the right bytes among other requests whose replies complete meanwhile; a sparse
 * image is read as before, its holes as hole chunks; a client that does not read holds the
 * server to its reply bound and then gets every reply whole; a client that leaves, or a server
 * that stops, with replies still to send releases the image. Through nbdcopy and qemu-img: a copy
 * of the export is equal to the file, and its reads were sent from the file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openImage } from '../../src/formats/index.js';
import { decodeSimpleReply, NBD_CMD, NBD_CMD_FLAG, type ChunkPayload } from '../../src/nbd/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { countedHostAccess, describeRun, RawClient, run, serve, skipWithout, within } from './helpers.js';

const MiB = 1024 * 1024;
const { READ, WRITE } = NBD_CMD;

/** Sending from the file is for files on tmpfs (HostFile.readSource): the images live there. */
const SHM = fs.existsSync('/dev/shm') ? '/dev/shm' : undefined;

/** A raw image on tmpfs holding `data` (every byte written: no holes). */
async function fullImage(data: Buffer) {
  const file = path.join(tmpDir('vdisk-nbd-sendfile-', SHM), 'disk.raw');
  fs.writeFileSync(file, data);
  return { file, image: await openImage(file, { format: 'raw' }) };
}

/** Simple replies in any order: each read's data length is known by its handle. */
async function simpleReplies(c: RawClient, lengths: Map<bigint, number>) {
  const out = new Map<bigint, { error: number; data: Buffer }>();
  while (out.size < lengths.size) {
    const r = decodeSimpleReply(await c.read(16));
    const n = lengths.get(r.handle);
    assert.ok(n !== undefined, `a reply to handle ${r.handle}, which was never sent`);
    out.set(r.handle, { error: r.error, data: r.error === 0 && n > 0 ? await c.read(n) : Buffer.alloc(0) });
  }
  return out;
}

/** The bytes of a structured read reply's chunks at request offset `base`, holes as zeroes. */
function assemble(chunks: ChunkPayload[], base: number, length: number): Buffer {
  const out = Buffer.alloc(length, 0xee);
  for (const p of chunks) {
    if (p.type === 'offset-data') p.data.copy(out, p.offset - base);
    else if (p.type === 'offset-hole') out.fill(0, p.offset - base, p.offset - base + p.size);
  }
  return out;
}

/**
 * A 4 MiB image served (with `closeGraceMs` when given) to a client that sent `n` reads of all of
 * it and reads none of the replies: some are on their way, the rest wait.
 */
async function unreadReplies(n: number, closeGraceMs?: number) {
  const data = crypto.randomBytes(4 * MiB);
  const { image } = await fullImage(data);
  const s = await serve([{ name: 'raw', device: image }], closeGraceMs ? { limits: { closeGraceMs } } : {});
  const c = await RawClient.connect(s.port);
  await c.go('raw');
  c.socket.pause();
  for (let i = 0; i < n; i++)
    c.request({ flags: 0, type: READ, handle: BigInt(i), offset: 0, length: 4 * MiB });
  await sleep(100);
  assert.ok((s.server.stats()[0]?.queuedReplyBytes ?? 0) > 0, 'replies wait for the client');
  return { data, image, s, c };
}

describe(
  'NBD read replies sent from a raw file',
  { skip: SHM ? false : 'no tmpfs at /dev/shm' },
  async () => {
    test('simple replies: large reads come from the file, intact, among replies that complete meanwhile', async () => {
      const data = crypto.randomBytes(8 * MiB);
      const { image } = await fullImage(data);
      const s = await serve([{ name: 'raw', device: image }]);
      const c = await RawClient.connect(s.port);
      await c.go('raw');
      const small = crypto.randomBytes(4096);
      // Pipelined in one burst: large reads, a small read, a small write, a read of what it wrote.
      const lengths = new Map<bigint, number>([
        [1n, MiB],
        [2n, 4096],
        [3n, 3 * MiB],
        [4n, 0],
        [5n, 64 * 1024],
        [6n, 2 * MiB],
      ]);
      c.request({ flags: 0, type: READ, handle: 1n, offset: 0, length: MiB });
      c.request({ flags: 0, type: READ, handle: 2n, offset: 5 * MiB, length: 4096 });
      c.request({ flags: 0, type: READ, handle: 3n, offset: 4096, length: 3 * MiB });
      c.request({ flags: 0, type: WRITE, handle: 4n, offset: 7 * MiB, length: 4096 }, small);
      c.request({ flags: 0, type: READ, handle: 5n, offset: 8 * MiB - 65536, length: 65536 });
      c.request({ flags: 0, type: READ, handle: 6n, offset: 6 * MiB, length: 2 * MiB });
      const r = await simpleReplies(c, lengths);
      for (const x of r.values()) assert.equal(x.error, 0);
      assert.ok(r.get(1n)!.data.equals(data.subarray(0, MiB)));
      assert.ok(r.get(2n)!.data.equals(data.subarray(5 * MiB, 5 * MiB + 4096)));
      assert.ok(r.get(3n)!.data.equals(data.subarray(4096, 4096 + 3 * MiB)));
      assert.ok(r.get(5n)!.data.equals(data.subarray(8 * MiB - 65536)));
      // The write and this read were in flight together: the read has the old or the new bytes.
      const at7 = r.get(6n)!.data.subarray(MiB, MiB + 4096);
      assert.ok(at7.equals(small) || at7.equals(data.subarray(7 * MiB, 7 * MiB + 4096)));
      assert.equal(s.server.stats()[0]?.sentFromFile, 4, 'the four reads of 64 KiB or more');
      c.request({ flags: 0, type: READ, handle: 7n, offset: 7 * MiB, length: MiB });
      const after = await c.simpleReply(MiB);
      assert.ok(after.data.subarray(0, 4096).equals(small), 'a read after the write sees it');
      c.close();
      await s.server.close();
      await within(image.close(), 5000, 'closing the image');
    });

    test('large writes and replies from the file at once on one connection, the client reading slowly', async () => {
      // Writes go to the first half, reads come from the second: every byte read is known.
      const data = crypto.randomBytes(16 * MiB);
      const { file, image } = await fullImage(data);
      const s = await serve([{ name: 'raw', device: image }]);
      const c = await RawClient.connect(s.port);
      await c.go('raw');
      c.socket.pause();
      const written = crypto.randomBytes(8 * MiB);
      const lengths = new Map<bigint, number>();
      for (let i = 0; i < 8; i++) {
        const w = written.subarray(i * MiB, (i + 1) * MiB);
        c.request({ flags: 0, type: WRITE, handle: BigInt(2 * i), offset: i * MiB, length: MiB }, w);
        c.request({ flags: 0, type: READ, handle: BigInt(2 * i + 1), offset: (8 + i) * MiB, length: MiB });
        lengths.set(BigInt(2 * i), 0);
        lengths.set(BigInt(2 * i + 1), MiB);
      }
      // The client takes its replies in small sips, so the server waits for room while payloads
      // are still coming in.
      const sip = setInterval(() => {
        c.socket.resume();
        setTimeout(() => c.socket.pause(), 2);
      }, 10);
      try {
        const r = await within(simpleReplies(c, lengths), 20_000, 'reading the replies');
        for (const [h, x] of r) {
          assert.equal(x.error, 0, `reply ${h}`);
          const i = Number(h >> 1n);
          if (h & 1n) assert.ok(x.data.equals(data.subarray((8 + i) * MiB, (9 + i) * MiB)), `read ${h}`);
        }
      } finally {
        clearInterval(sip);
        c.socket.resume();
      }
      const st = s.server.stats()[0]!;
      assert.equal(st.sentFromFile, 8);
      c.close();
      await s.server.close();
      await within(image.close(), 5000, 'closing the image');
      assert.ok(
        fs
          .readFileSync(file)
          .subarray(0, 8 * MiB)
          .equals(written),
        'the writes are in the file',
      );
    });

    for (const mode of ['structured', 'extended'] as const) {
      test(`${mode} replies: a large read is one data chunk from the file, also with DF`, async () => {
        const data = crypto.randomBytes(4 * MiB);
        data.fill(0, MiB, 2 * MiB); // zeroes written as data: sent as data from the file
        const { image } = await fullImage(data);
        const s = await serve([{ name: 'raw', device: image }]);
        const c = await RawClient.connect(s.port);
        await c.go('raw', mode === 'extended' ? { extended: true } : { structured: true });
        const cases = [
          { handle: 1n, offset: 0, length: 4 * MiB, flags: 0 },
          { handle: 2n, offset: 512 * 1024, length: MiB, flags: NBD_CMD_FLAG.DF },
        ];
        for (const x of cases)
          c.request({ flags: x.flags, type: READ, handle: x.handle, offset: x.offset, length: x.length });
        const got = new Map<bigint, Awaited<ReturnType<RawClient['reply']>>>();
        for (let i = 0; i < cases.length; i++) {
          const r = await c.reply();
          got.set(r.handle, r);
        }
        for (const x of cases) {
          const r = got.get(x.handle)!;
          assert.equal(r.error, 0);
          assert.deepEqual(
            r.chunks.map((p) => p.type),
            ['offset-data'],
            'one data chunk',
          );
          assert.ok(
            assemble(r.chunks, x.offset, x.length).equals(data.subarray(x.offset, x.offset + x.length)),
          );
        }
        assert.equal(s.server.stats()[0]?.sentFromFile, 2);
        c.close();
        await s.server.close();
        await image.close();
      });
    }

    test('a sparse image is read as before: its holes go as hole chunks', async () => {
      const file = path.join(tmpDir('vdisk-nbd-sendfile-', SHM), 'sparse.raw');
      const head = crypto.randomBytes(MiB);
      fs.writeFileSync(file, head);
      fs.truncateSync(file, 4 * MiB);
      const image = await openImage(file, { format: 'raw' });
      const s = await serve([{ name: 'raw', device: image }]);
      const c = await RawClient.connect(s.port);
      await c.go('raw', { structured: true });
      c.request({ flags: 0, type: READ, handle: 1n, offset: 0, length: 4 * MiB });
      const r = await c.reply();
      assert.equal(r.error, 0);
      assert.ok(
        r.chunks.some((p) => p.type === 'offset-hole'),
        'the hole is a hole chunk',
      );
      const want = Buffer.concat([head, Buffer.alloc(3 * MiB)]);
      assert.ok(assemble(r.chunks, 0, 4 * MiB).equals(want));
      assert.equal(s.server.stats()[0]?.sentFromFile, 0);
      c.close();
      await s.server.close();
      await image.close();
    });

    test('a client that does not read: the server stops at its reply bound, then sends every reply whole', async () => {
      const data = crypto.randomBytes(8 * MiB);
      const { image } = await fullImage(data);
      const bound = 4 * MiB;
      const s = await serve([{ name: 'raw', device: image }], { limits: { maxQueuedReplyBytes: bound } });
      const c = await RawClient.connect(s.port);
      await c.go('raw');
      c.socket.pause();
      // Every third read is 48 KiB, read into a buffer and written by Node's writer: the replies
      // from the file must wait for it, and it for them.
      const n = 48;
      const lengths = new Map<bigint, number>();
      for (let i = 0; i < n; i++) {
        const length = i % 3 === 2 ? 48 * 1024 : MiB;
        lengths.set(BigInt(i), length);
        c.request({ flags: 0, type: READ, handle: BigInt(i), offset: (i % 8) * MiB, length });
      }
      await sleep(200);
      const st = s.server.stats()[0]!;
      // Replies go out until the socket is full; the rest are held or not yet taken. The bound is
      // checked before each request is taken: past it by at most the last one taken (1 MiB) and
      // the small reads in flight then.
      assert.ok(st.queuedReplyBytes <= bound + 2 * MiB, `${st.queuedReplyBytes} bytes queued`);
      assert.ok(st.inflight < n, `${st.inflight} of ${n} requests taken`);
      c.socket.resume();
      const r = await within(simpleReplies(c, lengths), 10_000, 'reading the replies');
      for (const [h, x] of r) {
        const at = (Number(h) % 8) * MiB;
        assert.ok(x.data.equals(data.subarray(at, at + lengths.get(h)!)), `reply ${h}`);
      }
      assert.equal(s.server.stats()[0]?.sentFromFile, 32, 'the 1 MiB reads');
      c.close();
      await s.server.close();
      await within(image.close(), 5000, 'closing the image');
    });

    test('a client that leaves with replies still to send: the connection closes, the image is released', async () => {
      const { image, s, c } = await unreadReplies(16);
      c.close();
      for (let i = 0; i < 100 && s.server.stats().length > 0; i++) await sleep(20);
      assert.equal(s.server.stats().length, 0, 'the connection is gone');
      await within(image.close(), 5000, 'closing the image');
    });

    test('the server stops with replies still to send: they go out whole, then it closes', async () => {
      const { data, image, s, c } = await unreadReplies(8);
      const closing = s.server.close();
      c.socket.resume();
      const lengths = new Map<bigint, number>();
      for (let i = 0; i < 8; i++) lengths.set(BigInt(i), 4 * MiB);
      const r = await within(simpleReplies(c, lengths), 10_000, 'reading the replies');
      for (const x of r.values()) assert.ok(x.error !== 0 || x.data.equals(data));
      assert.ok([...r.values()].filter((x) => x.error === 0).length >= 1, 'the replies under way were sent');
      await within(closing, 5000, 'closing the server');
      assert.ok(await c.closedWithin(2000), 'the client sees the connection closed');
      await within(image.close(), 5000, 'closing the image');
    });

    test('the server stops while a client reads none of its replies: the client is cut off after the grace period', async () => {
      const { image, s } = await unreadReplies(8, 300);
      const t0 = Date.now();
      await within(s.server.close(), 3000, 'closing the server');
      assert.ok(Date.now() - t0 >= 250, 'the client had its grace period');
      await within(image.close(), 5000, 'closing the image');
    });

    const skip = await skipWithout('nbdcopy', 'qemu-img');
    test(
      'nbdcopy with four connections and qemu-img compare: equal to the file, read from the file',
      { skip },
      async () => {
        const data = crypto.randomBytes(24 * MiB);
        const { file, image } = await fullImage(data);
        const dev = countedHostAccess(image);
        const s = await serve([{ name: 'raw', device: dev.device }]);
        const out = path.join(tmpDir('vdisk-nbd-sendfile-'), 'copy.raw');
        let r = await run('nbdcopy', ['--connections=4', s.uri('raw'), out]);
        assert.equal(r.status, 0, describeRun(r));
        assert.ok(fs.readFileSync(out).equals(data), 'the copy is equal to the file');
        r = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', file, s.uri('raw')]);
        assert.equal(r.status, 0, describeRun(r));
        assert.ok(dev.sources() > 0, 'large reads were sent from the file');
        await s.server.close();
        await image.close();
      },
    );
  },
);
