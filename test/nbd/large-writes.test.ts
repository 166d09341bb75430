/**
 * Large write payloads, read from the socket straight into their own buffers (connection.ts,
 * "Input"; request-parser.ts, `directTarget`) and written to a raw image file on tmpfs. Through a
 * byte-level client: a payload that straddles several segments lands in the file and the
 * requests behind it are served; FUA writes and writes past the end are answered as such; a
 * device that fails a large write gets EIO with the payload consumed; a client that leaves
 * mid-payload, or a server that stops, releases the image; four clients pipelining large writes
 * each land in place. Through qemu-img: a converted image compares equal.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryDevice, type BlockDevice } from '../../src/block/index.js';
import { BlockError } from '../../src/util/index.js';
import { openImage } from '../../src/formats/index.js';
import { encodeRequest, NBD_CMD, NBD_CMD_FLAG, NBD_ERRNO } from '../../src/nbd/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { describeRun, RawClient, run, serve, skipWithout, within } from './helpers.js';

const MiB = 1024 * 1024;
const { READ, WRITE } = NBD_CMD;

/** The images live on tmpfs, where the server writes on the event loop (block/host-file.ts). */
const SHM = fs.existsSync('/dev/shm') ? '/dev/shm' : undefined;

async function rawImage(size: number) {
  const dir = tmpDir('vdisk-nbd-large-', SHM);
  const file = path.join(dir, 'disk.raw');
  fs.writeFileSync(file, '');
  fs.truncateSync(file, size);
  return { file, image: await openImage(file, { format: 'raw' }) };
}

/** A raw export with a client that sent a 2 MiB write's header and 300 KB of its payload. */
async function halfSentWrite() {
  const { image } = await rawImage(4 * MiB);
  const s = await serve([{ name: 'raw', device: image }], { limits: { closeGraceMs: 200 } });
  const c = await RawClient.connect(s.port);
  await c.go('raw');
  c.request({ flags: 0, type: WRITE, handle: 1n, offset: 0, length: 2 * MiB }, crypto.randomBytes(300_000));
  await sleep(50);
  return { image, s, c };
}

describe(
  'NBD large write payloads into a raw file',
  { skip: SHM ? false : 'no tmpfs at /dev/shm' },
  async () => {
    test('a payload across segments lands in the file; a FUA write, and one past the end (ENOSPC)', async () => {
      const { file, image } = await rawImage(8 * MiB);
      const s = await serve([{ name: 'raw', device: image }]);
      const c = await RawClient.connect(s.port);
      await c.go('raw');
      const payload = crypto.randomBytes(MiB);
      // The header and a little of the payload first; the rest together with a read behind it.
      c.request({ flags: 0, type: WRITE, handle: 1n, offset: MiB, length: MiB }, payload.subarray(0, 20_000));
      await sleep(30);
      c.write(payload.subarray(20_000));
      c.request({ flags: 0, type: READ, handle: 2n, offset: MiB, length: MiB });
      const w = await c.simpleReply();
      assert.deepEqual([w.handle, w.error], [1n, 0]);
      const r = await c.simpleReply(MiB);
      assert.deepEqual([r.handle, r.error], [2n, 0]);
      assert.ok(r.data.equals(payload), 'the read returns the written bytes');
      assert.ok(
        fs
          .readFileSync(file)
          .subarray(MiB, 2 * MiB)
          .equals(payload),
        'the bytes are in the file',
      );

      // FUA: written, and flushed.
      const fua = crypto.randomBytes(512 * 1024);
      c.request({ flags: NBD_CMD_FLAG.FUA, type: WRITE, handle: 3n, offset: 0, length: fua.length }, fua);
      assert.equal((await c.simpleReply()).error, 0);
      // Past the end: ENOSPC, the payload consumed, the connection goes on.
      c.request(
        { flags: 0, type: WRITE, handle: 4n, offset: 8 * MiB - 4096, length: MiB },
        Buffer.alloc(MiB),
      );
      assert.equal((await c.simpleReply()).error, NBD_ERRNO.ENOSPC);
      c.request({ flags: 0, type: READ, handle: 5n, offset: 0, length: fua.length });
      assert.ok((await c.simpleReply(fua.length)).data.equals(fua));
      c.close();
      await s.server.close();
      await within(image.close(), 5000, 'closing the image');
    });

    test('a device that fails a large write: EIO, the payload consumed, the next requests served', async () => {
      const mem = new MemoryDevice(4 * MiB);
      let failed = 0;
      // Writes of 1 MiB or more fail, as a disk's EIO would; smaller ones go through.
      const device = Object.create(mem) as BlockDevice;
      device.write = async (o, data, opts) => {
        if (data.length < MiB) return mem.write(o, data, opts);
        failed++;
        throw new BlockError('IO', 'the disk failed');
      };
      const s = await serve([{ name: 'bad', device }]);
      try {
        const c = await RawClient.connect(s.port);
        await c.go('bad');
        const big = crypto.randomBytes(2 * MiB);
        c.request({ flags: 0, type: WRITE, handle: 1n, offset: 0, length: big.length }, big);
        const small = Buffer.from('small write after the failed one');
        c.request({ flags: 0, type: WRITE, handle: 2n, offset: 4096, length: small.length }, small);
        // The two replies come in the order the writes complete.
        const errors = new Map<bigint, number>();
        for (let i = 0; i < 2; i++) {
          const r = await c.simpleReply();
          errors.set(r.handle, r.error);
        }
        assert.deepEqual([errors.get(1n), errors.get(2n)], [NBD_ERRNO.EIO, 0]);
        c.request({ flags: 0, type: READ, handle: 3n, offset: 4096, length: small.length });
        assert.ok((await c.simpleReply(small.length)).data.equals(small));
        assert.equal(failed, 1);
      } finally {
        await s.server.close();
      }
    });

    test('a client that leaves mid-payload: the connection closes and the image is released', async () => {
      const { image, s, c } = await halfSentWrite();
      assert.equal(s.server.stats()[0]?.phase, 'transmission');
      c.close();
      for (let i = 0; i < 100 && s.server.stats().length > 0; i++) await sleep(20);
      assert.equal(s.server.stats().length, 0, 'the connection is gone');
      await within(image.close(), 5000, 'closing the image');
    });

    test('the server stops while a payload is under way: it finishes, the image is released', async () => {
      const { image, s, c } = await halfSentWrite();
      await within(s.server.close(), 5000, 'closing the server');
      assert.ok(await c.closedWithin(2000), 'the client sees the connection closed');
      await within(image.close(), 5000, 'closing the image');
    });

    test('four clients at once, each pipelining large writes: every byte lands in its place', async () => {
      const { file, image } = await rawImage(16 * MiB);
      const s = await serve([{ name: 'raw', device: image }]);
      const clients = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(s.port)));
      await Promise.all(clients.map((c) => c.go('raw')));
      // Client i writes the i-th 4 MiB quarter as four 1 MiB writes sent in one burst, then reads it.
      const quarters = clients.map(() => crypto.randomBytes(4 * MiB));
      clients.forEach((c, i) => {
        const base = i * 4 * MiB;
        const burst = [0, 1, 2, 3].map((k) =>
          Buffer.concat([
            encodeRequest({ flags: 0, type: WRITE, handle: BigInt(k), offset: base + k * MiB, length: MiB }),
            quarters[i]!.subarray(k * MiB, (k + 1) * MiB),
          ]),
        );
        c.write(Buffer.concat(burst));
      });
      await Promise.all(
        clients.map(async (c, i) => {
          for (let k = 0; k < 4; k++) assert.equal((await c.simpleReply()).error, 0);
          c.request({ flags: 0, type: READ, handle: 9n, offset: i * 4 * MiB, length: 4 * MiB });
          assert.ok((await c.simpleReply(4 * MiB)).data.equals(quarters[i]!), `quarter ${i} reads back`);
        }),
      );
      for (const c of clients) c.close();
      await s.server.close();
      await image.close();
      assert.ok(fs.readFileSync(file).equals(Buffer.concat(quarters)), 'the file holds all four quarters');
    });

    const skip = await skipWithout('qemu-img');
    test('qemu-img convert into a raw export: equal to its source', { skip }, async () => {
      const dir = tmpDir('vdisk-nbd-large-');
      const src = path.join(dir, 'src.raw');
      const data = crypto.randomBytes(24 * MiB);
      data.fill(0, 4 * MiB, 9 * MiB); // a hole in the middle
      fs.writeFileSync(src, data);
      const { file, image } = await rawImage(data.length);
      const s = await serve([{ name: 'dst', device: image }]);
      let r = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, s.uri('dst')]);
      assert.equal(r.status, 0, describeRun(r));
      r = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, s.uri('dst')]);
      assert.equal(r.status, 0, describeRun(r));
      await s.server.close();
      await image.close();
      assert.ok(fs.readFileSync(file).equals(data));
    });
  },
);
