/**
 * Large write payloads spliced from the socket into a raw image file on tmpfs (connection.ts,
 * "Splicing"; block/splice.ts). Through a byte-level client: a payload that straddles several segments lands
 * in the file and the requests behind it are served; FUA writes and bad writes take the normal
 * path; a file that refuses the bytes gets EIO with the payload consumed; a client that leaves
 * mid-payload, or a server that stops, releases the image. Through qemu-img: a converted image
 * compares equal, and its writes were spliced.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryDevice, type BlockDevice } from '../../src/block/index.js';
import { openImage } from '../../src/formats/index.js';
import { encodeRequest, NBD_CMD, NBD_CMD_FLAG, NBD_ERRNO } from '../../src/nbd/index.js';
import { tmpDir } from '../helpers/tmp.js';
import { countedHostAccess, describeRun, RawClient, run, serve, skipWithout, within } from './helpers.js';

const MiB = 1024 * 1024;
const { READ, WRITE } = NBD_CMD;

/** Splicing is for files on tmpfs (HostFile.writeTarget): the images live there. */
const SHM = fs.existsSync('/dev/shm') ? '/dev/shm' : undefined;

async function rawImage(size: number) {
  const dir = tmpDir('vdisk-nbd-splice-', SHM);
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
  'NBD write payloads spliced into a raw file',
  { skip: SHM ? false : 'no tmpfs at /dev/shm' },
  async () => {
    test('a payload across segments lands in the file; FUA and bad writes take the normal path', async () => {
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
      assert.ok(r.data.equals(payload), 'the read returns the spliced bytes');
      assert.equal(s.server.stats()[0]?.splicedWrites, 1);
      assert.ok(
        fs
          .readFileSync(file)
          .subarray(MiB, 2 * MiB)
          .equals(payload),
        'the bytes are in the file',
      );

      // FUA: written through the device (which flushes), not spliced.
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
      assert.equal(s.server.stats()[0]?.splicedWrites, 1, 'neither of them was spliced');
      c.close();
      await s.server.close();
      await within(image.close(), 5000, 'closing the image');
    });

    test('a file that refuses the bytes: EIO, the payload consumed, the next requests served', async () => {
      const dir = tmpDir('vdisk-nbd-splice-');
      const ro = path.join(dir, 'ro.raw');
      fs.writeFileSync(ro, Buffer.alloc(MiB));
      const roFd = fs.openSync(ro, 'r');
      const mem = new MemoryDevice(4 * MiB);
      let finished = 0;
      // A device whose host file turns out not to take writes (EBADF, as the disk's EIO would).
      const device = Object.create(mem) as BlockDevice;
      device.writeTarget = (o) => ({ fd: roFd, position: o, finish: () => void finished++ });
      const s = await serve([{ name: 'bad', device }]);
      try {
        const c = await RawClient.connect(s.port);
        await c.go('bad');
        const big = crypto.randomBytes(2 * MiB);
        c.request({ flags: 0, type: WRITE, handle: 1n, offset: 0, length: big.length }, big);
        const small = Buffer.from('small write after the failed one');
        c.request({ flags: 0, type: WRITE, handle: 2n, offset: 4096, length: small.length }, small);
        c.request({ flags: 0, type: READ, handle: 3n, offset: 4096, length: small.length });
        const r1 = await c.simpleReply();
        assert.deepEqual([r1.handle, r1.error], [1n, NBD_ERRNO.EIO]);
        assert.equal((await c.simpleReply()).error, 0);
        assert.ok((await c.simpleReply(small.length)).data.equals(small));
        assert.equal(finished, 1);
      } finally {
        fs.closeSync(roFd);
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

    test('the server stops while a payload is spliced: it finishes, the image is released', async () => {
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
      const spliced = s.server.stats().reduce((n, c) => n + c.splicedWrites, 0);
      assert.ok(spliced >= 4, `${spliced} of 16 writes spliced`);
      for (const c of clients) c.close();
      await s.server.close();
      await image.close();
      assert.ok(fs.readFileSync(file).equals(Buffer.concat(quarters)), 'the file holds all four quarters');
    });

    const skip = await skipWithout('qemu-img');
    test(
      'qemu-img convert into a raw export: equal to its source, its writes spliced',
      { skip },
      async () => {
        const dir = tmpDir('vdisk-nbd-splice-');
        const src = path.join(dir, 'src.raw');
        const data = crypto.randomBytes(24 * MiB);
        data.fill(0, 4 * MiB, 9 * MiB); // a hole in the middle
        fs.writeFileSync(src, data);
        const { file, image } = await rawImage(data.length);
        const dev = countedHostAccess(image);
        const s = await serve([{ name: 'dst', device: dev.device }]);
        let r = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, s.uri('dst')]);
        assert.equal(r.status, 0, describeRun(r));
        assert.ok(dev.targets() > 0, 'the large writes were spliced');
        r = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, s.uri('dst')]);
        assert.equal(r.status, 0, describeRun(r));
        await s.server.close();
        await image.close();
        assert.ok(fs.readFileSync(file).equals(data));
      },
    );
  },
);
