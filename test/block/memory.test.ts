/**
 * MemoryDevice, the reference model of differential tests: it must behave exactly like a disk
 * that starts zeroed, including across its 64 KiB chunk boundaries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/block/index.js';
import { BlockError } from '../../src/util/index.js';

const CHUNK = 64 * 1024;

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7 + 1) & 0xff || 1;
  return b;
}

async function readAll(dev: MemoryDevice, offset = 0, length = dev.size): Promise<Buffer> {
  const b = Buffer.alloc(length, 0xee);
  await dev.read(offset, b);
  return b;
}

test('a new device reads as zeroes and reports one hole', async () => {
  const dev = new MemoryDevice(3 * CHUNK + 100);
  assert.equal(dev.size, 3 * CHUNK + 100);
  assert.ok((await readAll(dev)).equals(Buffer.alloc(dev.size)));
  assert.deepEqual(await dev.blockStatus(0, dev.size), [
    { offset: 0, length: dev.size, data: false, zero: true, present: false, depth: 0 },
  ]);
});

test('writes and reads round-trip at unaligned offsets crossing chunk boundaries', async () => {
  const dev = new MemoryDevice(4 * CHUNK);
  const model = Buffer.alloc(dev.size);
  const writes: Array<[number, number]> = [
    [1000, 3000],
    [CHUNK - 7, 20],
    [2 * CHUNK - 1, CHUNK + 2],
    [0, 1],
    [dev.size - 1, 1],
  ];
  for (const [i, [off, len]] of writes.entries()) {
    const data = pattern(len, i);
    await dev.write(off, data);
    data.copy(model, off);
  }
  assert.ok((await readAll(dev)).equals(model));
  // A read that starts and ends inside chunks.
  assert.ok((await readAll(dev, CHUNK - 10, CHUNK + 20)).equals(model.subarray(CHUNK - 10, 2 * CHUNK + 10)));
});

test('the caller keeps ownership of its buffers', async () => {
  const dev = new MemoryDevice(CHUNK);
  const data = Buffer.alloc(100, 0xaa);
  await dev.write(10, data);
  data.fill(0xbb);
  const out = Buffer.alloc(100);
  await dev.read(10, out);
  assert.ok(out.equals(Buffer.alloc(100, 0xaa)), 'later changes to the written buffer do not leak in');
  out.fill(0xcc);
  const again = Buffer.alloc(100);
  await dev.read(10, again);
  assert.ok(again.equals(Buffer.alloc(100, 0xaa)), 'changes to a read buffer do not leak in');
});

test('writeZeroes zeroes partial chunks and frees whole ones; blockStatus follows', async () => {
  const dev = new MemoryDevice(4 * CHUNK);
  await dev.write(0, pattern(4 * CHUNK, 3));
  await dev.writeZeroes(CHUNK + 100, 2 * CHUNK); // partial chunk 1, whole chunk 2, partial chunk 3
  const all = await readAll(dev);
  const want = pattern(4 * CHUNK, 3);
  want.fill(0, CHUNK + 100, 3 * CHUNK + 100);
  assert.ok(all.equals(want));
  assert.deepEqual(
    (await dev.blockStatus(0, dev.size)).map((e) => [e.offset, e.length, e.data, e.zero]),
    [
      [0, 2 * CHUNK, true, false],
      [2 * CHUNK, CHUNK, false, true],
      [3 * CHUNK, CHUNK, true, false],
    ],
  );
});

test('discard reads back as zeroes', async () => {
  const dev = new MemoryDevice(2 * CHUNK);
  await dev.write(0, pattern(2 * CHUNK, 4));
  await dev.discard(0, CHUNK);
  await dev.discard(CHUNK + 1, 10);
  const want = pattern(2 * CHUNK, 4);
  want.fill(0, 0, CHUNK);
  want.fill(0, CHUNK + 1, CHUNK + 11);
  assert.ok((await readAll(dev)).equals(want));
  assert.equal((await dev.blockStatus(0, CHUNK))[0]!.data, false);
});

test('blockStatus of a sub-range is clipped to it and its extents cover it exactly', async () => {
  const dev = new MemoryDevice(5 * CHUNK);
  await dev.write(2 * CHUNK + 5, Buffer.from('x'));
  const ext = await dev.blockStatus(CHUNK + 10, 2 * CHUNK);
  assert.deepEqual(
    ext.map((e) => [e.offset, e.length, e.data]),
    [
      [CHUNK + 10, CHUNK - 10, false],
      [2 * CHUNK, CHUNK, true],
      [3 * CHUNK, 10, false],
    ],
  );
  assert.deepEqual(await dev.blockStatus(0, 0), []);
});

test('resize: shrinking drops data past the end, growing again reads zeroes', async () => {
  const dev = new MemoryDevice(3 * CHUNK);
  await dev.write(0, pattern(3 * CHUNK, 5));
  await dev.resize(CHUNK + 100);
  assert.equal(dev.size, CHUNK + 100);
  await assert.rejects(dev.read(CHUNK + 100, Buffer.alloc(1)), { code: 'OUT_OF_RANGE' });
  await dev.resize(3 * CHUNK);
  const all = await readAll(dev);
  const want = Buffer.alloc(3 * CHUNK);
  pattern(3 * CHUNK, 5).copy(want, 0, 0, CHUNK + 100);
  assert.ok(all.equals(want), 'bytes past the old end must not come back');
  await dev.resize(0);
  assert.equal(dev.size, 0);
  await assert.rejects(dev.resize(-1), { code: 'INVALID' });
  await assert.rejects(dev.resize(1.5), { code: 'INVALID' });
});

test('requests outside the device fail with OUT_OF_RANGE, malformed ones with INVALID', async () => {
  const dev = new MemoryDevice(4096);
  const outside: Array<() => Promise<unknown>> = [
    () => dev.read(4096, Buffer.alloc(1)),
    () => dev.read(4000, Buffer.alloc(97)),
    () => dev.write(4095, Buffer.alloc(2)),
    () => dev.writeZeroes(0, 4097),
    () => dev.discard(4096, 1),
    () => dev.blockStatus(1, 4096),
  ];
  for (const op of outside) await assert.rejects(op(), { code: 'OUT_OF_RANGE' });
  const malformed: Array<() => Promise<unknown>> = [
    () => dev.read(-1, Buffer.alloc(1)),
    () => dev.writeZeroes(0, -1),
    () => dev.discard(0.5, 1),
    () => dev.blockStatus(NaN, 1),
  ];
  for (const op of malformed) await assert.rejects(op(), { code: 'INVALID' });
  // The last byte and an empty request at the end are fine.
  await dev.write(4095, Buffer.from([7]));
  await dev.read(4096, Buffer.alloc(0));
});

test('a read-only device refuses every change with READ_ONLY and still reads', async () => {
  const dev = new MemoryDevice(8192, { readOnly: true });
  assert.equal(dev.caps.readOnly, true);
  for (const op of [
    () => dev.write(0, Buffer.alloc(1)),
    () => dev.writeZeroes(0, 1),
    () => dev.discard(0, 1),
    () => dev.resize(4096),
  ]) {
    await assert.rejects(op(), (err: unknown) => err instanceof BlockError && err.code === 'READ_ONLY');
  }
  assert.equal(dev.size, 8192);
  const b = Buffer.alloc(10, 1);
  await dev.read(0, b);
  assert.ok(b.equals(Buffer.alloc(10)));
});

test('invalid sizes are refused at construction', () => {
  for (const size of [-1, 1.5, NaN, 2 ** 53]) {
    assert.throws(() => new MemoryDevice(size), { code: 'INVALID' }, String(size));
  }
});

test('a random workload matches a flat buffer model', async () => {
  let seed = 99;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const size = 5 * CHUNK + 333;
  const dev = new MemoryDevice(size);
  const model = Buffer.alloc(size);
  for (let i = 0; i < 400; i++) {
    const off = rand(size);
    const len = rand(Math.min(size - off, 3 * CHUNK) + 1);
    switch (rand(3)) {
      case 0: {
        const data = pattern(len, i);
        await dev.write(off, data);
        data.copy(model, off);
        break;
      }
      case 1:
        await dev.writeZeroes(off, len);
        model.fill(0, off, off + len);
        break;
      default: {
        const got = Buffer.alloc(len);
        await dev.read(off, got);
        assert.ok(got.equals(model.subarray(off, off + len)), `read ${off}+${len} at step ${i}`);
      }
    }
  }
  assert.ok((await readAll(dev)).equals(model));
  // Extents tile the device and every hole reads as zero.
  const ext = await dev.blockStatus(0, size);
  let pos = 0;
  for (const e of ext) {
    assert.equal(e.offset, pos);
    if (!e.data) assert.ok(model.subarray(e.offset, e.offset + e.length).equals(Buffer.alloc(e.length)));
    pos += e.length;
  }
  assert.equal(pos, size);
});
