/**
 * The pool of write payload buffers (block/write-buffers.ts): buffers of 4 KiB and more start on a
 * page, so that O_DIRECT takes them where they are; a buffer given back is handed out again for
 * the same size, and one that a read may still fill is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  native,
  pinWriteBuffer,
  pooledWriteBytes,
  returnWriteBuffer,
  takeWriteBuffer,
  unpinWriteBuffer,
} from '../../src/block/index.js';

const pageOffset = native().pageOffset;

test('pooled sizes start on a page', { skip: pageOffset ? false : 'the helper has no pageOffset' }, () => {
  for (const size of [4096, 4096 + 512, 64 * 1024, 1024 * 1024, 3 * 1024 * 1024 + 17]) {
    const b = takeWriteBuffer(size);
    assert.equal(b.length, size);
    assert.equal(pageOffset!(b, 4096), 0, `a ${size}-byte buffer`);
    returnWriteBuffer(b);
    const again = takeWriteBuffer(size);
    assert.equal(again, b, `the ${size}-byte buffer is reused`);
    assert.equal(pageOffset!(again, 4096), 0);
  }
});

test('a returned buffer counts in the pool until taken; a pinned one is dropped', () => {
  const size = 256 * 1024;
  const a = takeWriteBuffer(size);
  const before = pooledWriteBytes();
  returnWriteBuffer(a);
  assert.equal(pooledWriteBytes(), before + size);
  assert.equal(takeWriteBuffer(size), a);
  assert.equal(pooledWriteBytes(), before);
  pinWriteBuffer(a);
  returnWriteBuffer(a);
  assert.equal(pooledWriteBytes(), before, 'a pinned buffer is not pooled');
  unpinWriteBuffer(a);
  assert.notEqual(takeWriteBuffer(size), a);
});
