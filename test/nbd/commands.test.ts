/**
 * Pure pieces of the command handlers: zero runs in read data (what becomes OFFSET_HOLE chunks)
 * and the mapping of block status extents onto base:allocation and qemu:allocation-depth.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { META_CONTEXTS, NBD_STATE_HOLE, NBD_STATE_ZERO, descriptors, zeroRuns } from '../../src/nbd/index.js';

const KiB = 1024;

test('zeroRuns: 4 KiB blocks, runs of at least the minimum, at the start, middle and end', () => {
  const b = Buffer.alloc(256 * KiB);
  assert.deepEqual(zeroRuns(b, 64 * KiB), [{ offset: 0, length: 256 * KiB, hole: true }]);
  b.fill(1, 64 * KiB, 64 * KiB + 1); // one byte of data in the second 64 KiB
  b.fill(2, 200 * KiB, 204 * KiB);
  assert.deepEqual(zeroRuns(b, 64 * KiB), [
    { offset: 0, length: 64 * KiB, hole: true },
    { offset: 68 * KiB, length: 132 * KiB, hole: true },
  ]);
  assert.deepEqual(zeroRuns(b, 4 * KiB).at(-1), { offset: 204 * KiB, length: 52 * KiB, hole: true });
  // A tail shorter than a block counts too.
  const odd = Buffer.alloc(64 * KiB + 100);
  odd[0] = 1;
  assert.deepEqual(zeroRuns(odd, 4 * KiB), [{ offset: 4 * KiB, length: 60 * KiB + 100, hole: true }]);
  assert.deepEqual(zeroRuns(Buffer.alloc(0), 4 * KiB), []);
});

test('descriptors: HOLE and ZERO flags, and allocation depth 0/1/2, merged', () => {
  const [base, depth] = META_CONTEXTS;
  const x = (length: number, data: boolean, zero: boolean, present: boolean, d: number) => ({
    offset: 0,
    length,
    data,
    zero,
    present,
    depth: d,
  });
  const extents = [
    x(4096, true, false, true, 0),
    x(4096, true, false, true, 0),
    x(8192, true, false, true, 1),
    x(4096, false, true, true, 0),
    x(4096, false, true, false, 2),
  ];
  assert.deepEqual(descriptors(extents, base), [
    { length: 16384, flags: 0 },
    { length: 8192, flags: NBD_STATE_HOLE | NBD_STATE_ZERO },
  ]);
  assert.deepEqual(descriptors(extents, depth), [
    { length: 8192, flags: 1 },
    { length: 8192, flags: 2 },
    { length: 4096, flags: 1 },
    { length: 4096, flags: 0 },
  ]);
});
