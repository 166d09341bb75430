/** ByteQueue, the receive queue of both transports' parsers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteQueue } from '../../src/util/index.js';

test('take, copyInto and skip across chunks', () => {
  const q = new ByteQueue();
  q.push(Buffer.from('abc'));
  q.push(Buffer.alloc(0));
  q.push(Buffer.from('defg'));
  assert.equal(q.length, 7);
  assert.equal(q.take(2).toString(), 'ab');
  assert.equal(q.take(3).toString(), 'cde');
  assert.equal(q.skip(10), 2);
  assert.equal(q.length, 0);
  assert.throws(() => q.take(1), RangeError);
});

test('byteAt peeks across chunks; contiguous says when take is a view', () => {
  const q = new ByteQueue();
  const first = Buffer.from('abc');
  q.push(first);
  q.push(Buffer.from('defg'));
  q.skip(1);
  assert.equal(String.fromCharCode(q.byteAt(0)), 'b');
  assert.equal(String.fromCharCode(q.byteAt(4)), 'f');
  assert.throws(() => q.byteAt(6), RangeError);
  assert.equal(q.length, 6, 'peeking consumes nothing');
  const view = q.take(2);
  assert.equal(view.buffer, first.buffer, 'a take inside one chunk is a view of it');
  const dst = Buffer.alloc(6, 0x2e);
  q.copyInto(dst, 1, 4);
  assert.equal(dst.toString(), '.defg.');
  assert.equal(q.length, 0);
  // takeCopy: a buffer of its own, inside one chunk and across two.
  const a = Buffer.from('hij');
  q.push(a);
  q.push(Buffer.from('kl'));
  const inside = q.takeCopy(2);
  a.fill(0x2e);
  assert.equal(inside.toString(), 'hi', 'not a view of the chunk');
  assert.equal(q.takeCopy(3).toString(), '.kl');
  assert.throws(() => q.takeCopy(1), RangeError);
});
