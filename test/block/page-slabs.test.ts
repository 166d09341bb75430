/** pageAlignedSlice: the data part of every carved buffer starts on a page, and carved buffers never overlap. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, pageAlignedSlice } from '../../src/block/index.js';

test('data parts are page-aligned behind their room, and live slices do not overlap', () => {
  const live: Buffer[] = [];
  for (const [room, length] of [
    [16, 4096],
    [0, 512],
    [32, 65536],
    [16, 131072],
    [0, 131073], // past SLAB_MAX: its own buffer
    [20, 1],
    [16, 4096],
  ] as const) {
    for (let k = 0; k < 20; k++) {
      const b = pageAlignedSlice(room, length);
      assert.equal(b.length, room + length);
      assert.equal(native().pageOffset!(b.subarray(room), 4096), 0, `room ${room}, length ${length}`);
      b.fill(live.length & 0xff);
      live.push(b);
    }
  }
  live.forEach((b, i) =>
    assert.ok(
      b.every((x) => x === (i & 0xff)),
      `slice ${i} was not overwritten`,
    ),
  );
});
