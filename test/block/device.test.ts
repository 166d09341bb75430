/** The edge checks every layer uses, and the cache-mode table that DESIGN.md fixes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CACHE_MODES,
  cacheFlags,
  checkRange,
  checkWritable,
  parseCacheMode,
  type BlockCaps,
} from '../../src/block/index.js';
import { BlockError, UsageError } from '../../src/util/index.js';

test('checkRange accepts requests inside the device, including empty ones at the end', () => {
  const dev = { size: 1000 };
  for (const [off, len] of [
    [0, 0],
    [0, 1000],
    [999, 1],
    [1000, 0],
    [500, 500],
  ] as const) {
    assert.doesNotThrow(() => checkRange(dev, off, len), `${off}+${len}`);
  }
});

test('checkRange: OUT_OF_RANGE past the end, INVALID for malformed numbers', () => {
  const dev = { size: 1000 };
  for (const [off, len] of [
    [0, 1001],
    [1000, 1],
    [999, 2],
    [Number.MAX_SAFE_INTEGER, 1],
  ] as const) {
    assert.throws(
      () => checkRange(dev, off, len),
      (err: unknown) =>
        err instanceof BlockError && err.code === 'OUT_OF_RANGE' && /1000 bytes/.test(err.message),
      `${off}+${len}`,
    );
  }
  for (const [off, len] of [
    [-1, 1],
    [0, -1],
    [0.5, 1],
    [0, 1.5],
    [NaN, 0],
    [0, Infinity],
    [2 ** 53, 0],
  ]) {
    assert.throws(() => checkRange(dev, off!, len!), { code: 'INVALID' }, `${off}+${len}`);
  }
});

test('checkWritable refuses read-only devices with READ_ONLY', () => {
  const caps = (readOnly: boolean): { caps: BlockCaps } => ({
    caps: {
      readOnly,
      canFlush: true,
      canFua: true,
      canDiscard: true,
      canZero: true,
      rotational: false,
      minBlockSize: 1,
      preferredBlockSize: 4096,
      maxTransfer: 1 << 20,
    },
  });
  assert.doesNotThrow(() => checkWritable(caps(false)));
  assert.throws(() => checkWritable(caps(true)), { code: 'READ_ONLY' });
});

test('cache modes map onto (direct, writethrough, noFlush) exactly as QEMU does', () => {
  assert.deepEqual(Object.fromEntries(CACHE_MODES.map((m) => [m, cacheFlags(m)])), {
    writeback: { direct: false, writethrough: false, noFlush: false },
    none: { direct: true, writethrough: false, noFlush: false },
    writethrough: { direct: false, writethrough: true, noFlush: false },
    directsync: { direct: true, writethrough: true, noFlush: false },
    unsafe: { direct: false, writethrough: false, noFlush: true },
  });
});

test('parseCacheMode accepts the five names and lists them when refusing anything else', () => {
  for (const m of CACHE_MODES) assert.equal(parseCacheMode(m), m);
  for (const bad of ['', 'None', 'direct', 'writeback ', 'default']) {
    assert.throws(
      () => parseCacheMode(bad),
      (err: unknown) => err instanceof UsageError && err.message.includes('writeback, none, writethrough'),
      bad,
    );
  }
});
