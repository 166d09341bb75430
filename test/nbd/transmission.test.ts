/**
 * The transmission phase through a raw socket: every bad request gets the spec's error and the
 * connection goes on (a rejected write's payload is consumed first); a bad magic drops it.
 * Structured reads with holes, DF, block status with REQ_ONE, out-of-order replies, many
 * requests in flight, a client that does not read its replies, DISC and shutdown with requests in
 * flight.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/block/index.js';
import {
  NBD_CMD,
  NBD_CMD_FLAG,
  NBD_ERRNO,
  NBD_FLAG,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
} from '../../src/nbd/index.js';
import { gatedDevice, RawClient, serve } from './helpers.js';

const MiB = 1024 * 1024;
const { READ, WRITE, DISC, FLUSH, TRIM, CACHE, WRITE_ZEROES, BLOCK_STATUS } = NBD_CMD;

describe('NBD transmission', async () => {
  const mem = new MemoryDevice(4 * MiB);
  const gated = gatedDevice(new MemoryDevice(MiB));
  const s = await serve([
    { name: 'mem', device: mem, discard: 'unmap' },
    { name: 'ro', device: new MemoryDevice(MiB), readOnly: true },
    { name: 'gated', device: gated.device },
  ]);
  let handle = 100n;
  const next = (): bigint => handle++;

  test('simple replies: bad requests get EINVAL, ENOSPC or EPERM, and the next request works', async () => {
    const c = await RawClient.connect(s.port);
    const { size, flags } = await c.go('mem');
    assert.equal(size, 4 * MiB);
    assert.ok(flags & NBD_FLAG.SEND_FLUSH || true);
    const expectErr = async (
      req: { type: number; flags?: number; offset: number | bigint; length: number },
      errno: number,
      payload?: Buffer,
    ) => {
      const h = next();
      c.request(
        { flags: req.flags ?? 0, type: req.type, handle: h, offset: req.offset, length: req.length },
        payload,
      );
      const r = await c.simpleReply();
      assert.equal(r.handle, h);
      assert.equal(r.error, errno, JSON.stringify({ ...req, offset: String(req.offset) }));
    };
    await expectErr({ type: 99, offset: 0, length: 0 }, NBD_ERRNO.EINVAL);
    await expectErr({ type: READ, flags: 1 << 9, offset: 0, length: 512 }, NBD_ERRNO.EINVAL);
    await expectErr({ type: READ, flags: NBD_CMD_FLAG.DF, offset: 0, length: 512 }, NBD_ERRNO.EINVAL);
    await expectErr(
      { type: WRITE, flags: NBD_CMD_FLAG.NO_HOLE, offset: 0, length: 4 },
      NBD_ERRNO.EINVAL,
      Buffer.alloc(4),
    );
    await expectErr({ type: READ, offset: 4 * MiB - 511, length: 512 }, NBD_ERRNO.EINVAL);
    await expectErr({ type: READ, offset: 1n << 63n, length: 512 }, NBD_ERRNO.EINVAL);
    await expectErr({ type: WRITE, offset: 4 * MiB, length: 512 }, NBD_ERRNO.ENOSPC, Buffer.alloc(512, 1));
    await expectErr({ type: WRITE_ZEROES, offset: 4 * MiB - 1, length: 2 }, NBD_ERRNO.ENOSPC);
    await expectErr({ type: TRIM, offset: 4 * MiB, length: 1 }, NBD_ERRNO.EINVAL);
    await expectErr({ type: CACHE, offset: 4 * MiB, length: 1 }, NBD_ERRNO.EINVAL);
    await expectErr({ type: READ, offset: 0, length: 32 * MiB + 1 }, NBD_ERRNO.EINVAL);
    await expectErr({ type: FLUSH, offset: 1, length: 0 }, NBD_ERRNO.EINVAL);
    await expectErr({ type: BLOCK_STATUS, offset: 0, length: 512 }, NBD_ERRNO.EINVAL);
    // An oversized write: EINVAL, and its 33 MiB payload is consumed, not taken for requests.
    await expectErr(
      { type: WRITE, offset: 0, length: 33 * MiB },
      NBD_ERRNO.EINVAL,
      Buffer.alloc(33 * MiB, 0x25),
    );
    // The stream is still in sync: a write and a read back.
    const h1 = next();
    c.request(
      { flags: NBD_CMD_FLAG.FUA, type: WRITE, handle: h1, offset: 4096, length: 4 },
      Buffer.from('abcd'),
    );
    assert.deepEqual(await c.simpleReply(), { error: 0, handle: h1, data: Buffer.alloc(0) });
    const h2 = next();
    c.request({ flags: 0, type: READ, handle: h2, offset: 4094, length: 8 });
    const r = await c.simpleReply(8);
    assert.deepEqual(r.data, Buffer.from('\0\0abcd\0\0', 'latin1'));
    const h3 = next();
    c.request({ flags: 0, type: FLUSH, handle: h3, offset: 0, length: 0 });
    assert.equal((await c.simpleReply()).error, 0);
  });

  test('a read-only export refuses writes, trims and zeroes with EPERM, consuming write payloads', async () => {
    const c = await RawClient.connect(s.port);
    const { flags } = await c.go('ro');
    assert.ok(flags & NBD_FLAG.READ_ONLY);
    for (const [type, payload] of [
      [WRITE, Buffer.alloc(4096, 9)],
      [TRIM, undefined],
      [WRITE_ZEROES, undefined],
    ] as const) {
      const h = next();
      c.request({ flags: 0, type, handle: h, offset: 0, length: 4096 }, payload);
      assert.equal((await c.simpleReply()).error, NBD_ERRNO.EPERM);
    }
    const h = next();
    c.request({ flags: 0, type: READ, handle: h, offset: 0, length: 4096 });
    assert.deepEqual((await c.simpleReply(4096)).data, Buffer.alloc(4096));
  });

  test('a bad request magic drops the connection', async () => {
    const c = await RawClient.connect(s.port);
    await c.go('mem');
    c.write(Buffer.alloc(28, 0x13));
    assert.ok(await c.closedWithin(2000));
  });

  test('structured replies: holes, DF, errors as chunks, block status with REQ_ONE', async () => {
    await mem.write(MiB, Buffer.alloc(128 * 1024, 0xab));
    const c = await RawClient.connect(s.port);
    const { flags } = await c.go('mem', {
      structured: true,
      contexts: ['base:allocation', 'qemu:allocation-depth'],
    });
    assert.ok(flags & NBD_FLAG.SEND_DF);
    let h = next();
    c.request({ flags: 0, type: READ, handle: h, offset: MiB - 64 * 1024, length: 256 * 1024 });
    let r = await c.reply();
    assert.equal(r.handle, h);
    assert.deepEqual(
      r.chunks.map((x) =>
        x.type === 'offset-data'
          ? ['data', x.offset, x.data.length]
          : x.type === 'offset-hole'
            ? ['hole', x.offset, x.size]
            : [x.type],
      ),
      [
        ['hole', MiB - 64 * 1024, 64 * 1024],
        ['data', MiB, 128 * 1024],
        ['hole', MiB + 128 * 1024, 64 * 1024],
      ],
    );
    h = next();
    c.request({ flags: NBD_CMD_FLAG.DF, type: READ, handle: h, offset: MiB - 64 * 1024, length: 256 * 1024 });
    r = await c.reply();
    assert.equal(r.chunks.length, 1);
    const only = r.chunks[0]!;
    assert.ok(only.type === 'offset-data' && only.data.length === 256 * 1024);
    assert.deepEqual(only.data.subarray(64 * 1024, 64 * 1024 + 4), Buffer.alloc(4, 0xab));
    h = next();
    c.request({ flags: 0, type: READ, handle: h, offset: 4 * MiB, length: 1 });
    r = await c.reply();
    assert.equal(r.error, NBD_ERRNO.EINVAL);
    assert.ok(r.chunks[0]?.type === 'error' && /past the end/.test(r.chunks[0].message));
    h = next();
    c.request({ flags: 0, type: BLOCK_STATUS, handle: h, offset: MiB / 2, length: 3.5 * MiB });
    r = await c.reply();
    assert.deepEqual(
      r.chunks.map((x) => (x.type === 'block-status' ? [x.contextId, x.extents] : x.type)),
      [
        [
          1,
          [
            { length: MiB / 2, flags: NBD_STATE_HOLE | NBD_STATE_ZERO },
            { length: 128 * 1024, flags: 0 },
            { length: 3 * MiB - 128 * 1024, flags: NBD_STATE_HOLE | NBD_STATE_ZERO },
          ],
        ],
        [
          2,
          [
            { length: MiB / 2, flags: 0 },
            { length: 128 * 1024, flags: 1 },
            { length: 3 * MiB - 128 * 1024, flags: 0 },
          ],
        ],
      ],
    );
    h = next();
    c.request({ flags: NBD_CMD_FLAG.REQ_ONE, type: BLOCK_STATUS, handle: h, offset: 4096, length: 8192 });
    r = await c.reply();
    for (const x of r.chunks)
      assert.ok(x.type === 'block-status' && x.extents.length === 1 && x.extents[0]!.length === 8192);
    // Write zeroes with NO_HOLE and FAST_ZERO, trim, cache: all succeed.
    for (const [type, fl] of [
      [WRITE_ZEROES, NBD_CMD_FLAG.NO_HOLE | NBD_CMD_FLAG.FAST_ZERO | NBD_CMD_FLAG.FUA],
      [TRIM, NBD_CMD_FLAG.FUA],
      [CACHE, 0],
    ] as const) {
      h = next();
      c.request({ flags: fl, type, handle: h, offset: MiB, length: 4096 });
      assert.equal((await c.reply()).error, 0);
    }
  });

  test('replies come out of order: a status reply overtakes a read held in the device', async () => {
    const c = await RawClient.connect(s.port);
    await c.go('gated', { structured: true, contexts: ['base:allocation'] });
    c.request({ flags: 0, type: READ, handle: 1n, offset: 0, length: 4096 });
    c.request({ flags: 0, type: BLOCK_STATUS, handle: 2n, offset: 0, length: 4096 });
    assert.equal((await c.reply()).handle, 2n);
    gated.release();
    assert.equal((await c.reply()).handle, 1n);
  });

  test('hundreds of pipelined requests, more than the in-flight cap, all get their reply', async () => {
    const c = await RawClient.connect(s.port);
    await c.go('mem');
    const n = 500;
    for (let i = 0; i < n; i++) {
      c.request(
        { flags: 0, type: WRITE, handle: BigInt(i), offset: i * 512, length: 512 },
        Buffer.alloc(512, i & 0xff),
      );
    }
    const seen = new Set<bigint>();
    for (let i = 0; i < n; i++) {
      const r = await c.simpleReply();
      assert.equal(r.error, 0);
      seen.add(r.handle);
    }
    assert.equal(seen.size, n);
    const b = Buffer.alloc(512);
    await mem.read(499 * 512, b);
    assert.deepEqual(b, Buffer.alloc(512, 499 & 0xff));
  });

  test('DISC: requests in flight finish and reply, then the server closes', async () => {
    const c = await RawClient.connect(s.port);
    await c.go('gated');
    c.request({ flags: 0, type: WRITE, handle: 7n, offset: 0, length: 3 }, Buffer.from('xyz'));
    c.request({ flags: 0, type: DISC, handle: 8n, offset: 0, length: 0 });
    while (gated.waiting() === 0) await new Promise((r) => setTimeout(r, 5));
    assert.equal(await c.closedWithin(100), false, 'still open while the write is in flight');
    gated.release();
    assert.deepEqual(await c.simpleReply(), { error: 0, handle: 7n, data: Buffer.alloc(0) });
    assert.ok(await c.closedWithin(2000));
  });
});

describe('NBD flow control and shutdown', () => {
  test('a client that does not read its replies is not served past the limits', async () => {
    const s = await serve([{ name: 'm', device: new MemoryDevice(64 * MiB) }], {
      limits: { maxQueuedReplyBytes: 2 * MiB, maxInflightBytes: 4 * MiB },
    });
    const c = await RawClient.connect(s.port);
    await c.go('m');
    c.socket.pause();
    const before = process.memoryUsage().arrayBuffers;
    // 2000 reads of 256 KiB would be 500 MiB of replies if the server kept reading.
    for (let i = 0; i < 2000; i++)
      c.request({ flags: 0, type: READ, handle: BigInt(i), offset: 0, length: 256 * 1024 });
    await new Promise((r) => setTimeout(r, 300));
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 64 * MiB, `buffers grew by ${grown >> 20} MiB`);
    c.socket.resume();
    for (let i = 0; i < 2000; i++) assert.equal((await c.simpleReply(256 * 1024)).error, 0);
  });

  test('close() drains: the write in flight completes and replies, then the connection closes', async () => {
    const inner = new MemoryDevice(MiB);
    const g = gatedDevice(inner);
    const s = await serve([{ name: 'g', device: g.device }]);
    const c = await RawClient.connect(s.port);
    await c.go('g');
    c.request({ flags: 0, type: WRITE, handle: 1n, offset: 0, length: 4 }, Buffer.from('data'));
    while (g.waiting() === 0) await new Promise((r) => setTimeout(r, 5));
    let closed = false;
    const closing = s.server.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed, false, 'close waits for the request in flight');
    g.release();
    assert.deepEqual(await c.simpleReply(), { error: 0, handle: 1n, data: Buffer.alloc(0) });
    await closing;
    assert.ok(await c.closedWithin(2000));
    const b = Buffer.alloc(4);
    await inner.read(0, b);
    assert.equal(b.toString(), 'data');
  });
});

describe('NBD read buffers lent from the pool', () => {
  test('a reply buffer goes back only once written: a slow reader still gets its own bytes', async () => {
    const KiB = 1024;
    const N = 12;
    const mem = new MemoryDevice(4 * N * MiB);
    // Region i (1 MiB apart) holds pattern 0x40 + i.
    for (let i = 0; i < 2 * N; i++) await mem.write(i * MiB, Buffer.alloc(512 * KiB, 0x40 + i));
    const s = await serve([{ name: 'm', device: mem }]);
    const slow = await RawClient.connect(s.port);
    await slow.go('m');
    // 512 KiB reads take pooled buffers. The slow client stops reading its socket, so most of its
    // replies wait in the server's write queue.
    slow.socket.pause();
    for (let i = 0; i < N; i++) {
      slow.request({ flags: 0, type: READ, handle: BigInt(i), offset: i * MiB, length: 512 * KiB });
    }
    await new Promise((r) => setTimeout(r, 200));
    // Meanwhile another client reads other regions, many at once, through the same pool.
    const fast = await RawClient.connect(s.port);
    await fast.go('m');
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < N; k++) {
        fast.request({ flags: 0, type: READ, handle: BigInt(k), offset: (N + k) * MiB, length: 512 * KiB });
      }
      for (let k = 0; k < N; k++) {
        const r = await fast.simpleReply(512 * KiB);
        assert.equal(r.error, 0);
        const want = 0x40 + N + Number(r.handle);
        assert.ok(r.data.every((b) => b === want));
      }
    }
    slow.socket.resume();
    for (let i = 0; i < N; i++) {
      const r = await slow.simpleReply(512 * KiB);
      assert.equal(r.error, 0);
      const want = 0x40 + Number(r.handle);
      assert.ok(
        r.data.every((b) => b === want),
        `read of region ${Number(r.handle)} holds its own bytes`,
      );
    }
  });
});
