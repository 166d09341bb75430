/** Alignment arithmetic, zero detection and the one checked bigint -> number conversion. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  alignDown,
  alignUp,
  BlockError,
  isAligned,
  isPowerOfTwo,
  isZero,
  log2,
  readU64,
  toSafeNumber,
  writeU64,
} from '../../src/util/index.js';

test('alignUp and alignDown round to the neighbouring multiples', () => {
  const cases: Array<[number, number, number, number]> = [
    // value, align, down, up
    [0, 4096, 0, 0],
    [1, 4096, 0, 4096],
    [4095, 4096, 0, 4096],
    [4096, 4096, 4096, 4096],
    [4097, 4096, 4096, 8192],
    [1000, 512, 512, 1024],
    [4000, 1, 4000, 4000],
    [65537, 65536, 65536, 131072],
    [2 ** 52 + 1, 2 ** 20, 2 ** 52, 2 ** 52 + 2 ** 20],
    [100, 3, 99, 102], // not only powers of two
  ];
  for (const [v, a, down, up] of cases) {
    assert.equal(alignDown(v, a), down, `alignDown(${v}, ${a})`);
    assert.equal(alignUp(v, a), up, `alignUp(${v}, ${a})`);
    assert.equal(isAligned(v, a), down === v, `isAligned(${v}, ${a})`);
  }
});

test('isPowerOfTwo and log2', () => {
  for (let k = 0; k <= 52; k++) {
    assert.equal(isPowerOfTwo(2 ** k), true, `2^${k}`);
    assert.equal(log2(2 ** k), k);
  }
  for (const n of [0, -1, -4, 3, 6, 4095, 4097, 1.5, 0.5, NaN, Infinity, 2 ** 53, 2 ** 52 + 2]) {
    assert.equal(isPowerOfTwo(n), false, String(n));
  }
});

test('isZero looks at every byte, across its 64 KiB comparison chunks', () => {
  assert.equal(isZero(Buffer.alloc(0)), true);
  assert.equal(isZero(Buffer.alloc(1)), true);
  const big = Buffer.alloc(3 * 65536 + 17);
  assert.equal(isZero(big), true);
  for (const pos of [0, 1, 65535, 65536, 65537, 2 * 65536, big.length - 1]) {
    big[pos] = 1;
    assert.equal(isZero(big), false, `non-zero byte at ${pos}`);
    big[pos] = 0;
  }
  assert.equal(isZero(big), true);
});

test('isZero honours the view of a Buffer that is a slice of a larger one', () => {
  const backing = Buffer.alloc(200000, 0xff);
  backing.fill(0, 1000, 150000);
  assert.equal(isZero(backing.subarray(1000, 150000)), true);
  assert.equal(isZero(backing.subarray(999, 150000)), false);
  assert.equal(isZero(backing.subarray(1000, 150001)), false);
});

test('toSafeNumber converts in-range values and refuses the rest with CORRUPT', () => {
  assert.equal(toSafeNumber(0n, 'x'), 0);
  assert.equal(toSafeNumber(4096n, 'x'), 4096);
  assert.equal(toSafeNumber(BigInt(Number.MAX_SAFE_INTEGER), 'x'), Number.MAX_SAFE_INTEGER);
  for (const v of [BigInt(Number.MAX_SAFE_INTEGER) + 1n, 2n ** 63n, 2n ** 64n - 1n, -1n]) {
    assert.throws(
      () => toSafeNumber(v, 'L1 table offset'),
      (err: unknown) =>
        err instanceof BlockError &&
        err.code === 'CORRUPT' &&
        err.message.includes('L1 table offset') &&
        err.message.includes(String(v)),
      String(v),
    );
  }
});

test('readU64 and writeU64 are big-endian and checked', () => {
  const buf = Buffer.alloc(16);
  writeU64(buf, 4, 0x0010203040506070);
  assert.deepEqual([...buf.subarray(4, 12)], [0, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70]);
  assert.equal(readU64(buf, 4, 'field'), 0x0010203040506070);
  writeU64(buf, 0, Number.MAX_SAFE_INTEGER);
  assert.equal(buf.readBigUInt64BE(0), BigInt(Number.MAX_SAFE_INTEGER));
  buf.writeBigUInt64BE(2n ** 63n, 0);
  assert.throws(() => readU64(buf, 0, 'size'), { code: 'CORRUPT' });
});

test('writeU64 refuses numbers that are not exact non-negative integers instead of rounding them', () => {
  const buf = Buffer.alloc(8);
  for (const v of [2 ** 53, 2 ** 60 + 2 ** 10, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => writeU64(buf, 0, v), { code: 'INVALID' }, String(v));
  }
  assert.deepEqual([...buf], [0, 0, 0, 0, 0, 0, 0, 0], 'nothing was written');
});
