/**
 * Unit tests of convert's sparse detection (qemu-img's is_allocated_sectors[_min]) and of the
 * qemu-img progress line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Progress } from '../../src/cli/progress.js';
import { allocatedRun, firstRun, pow2floor, SECTOR } from '../../src/cli/sparse.js';

/** A buffer from a sector map: 'd' is a data sector, '.' a zero sector. */
function sectors(map: string): Buffer {
  const b = Buffer.alloc(map.length * SECTOR);
  for (let i = 0; i < map.length; i++) if (map[i] === 'd') b.fill(0xaa, i * SECTOR, (i + 1) * SECTOR);
  return b;
}

test('firstRun: whole buffers, aligned and unaligned run ends', () => {
  assert.deepEqual(firstRun(sectors('dddd'), 4, 0, 8), { allocated: true, sectors: 4 });
  assert.deepEqual(firstRun(sectors('....'), 4, 0, 8), { allocated: false, sectors: 4 });
  // Data ending mid-alignment grows to the alignment boundary.
  assert.deepEqual(firstRun(sectors('ddd.............'), 16, 0, 8), { allocated: true, sectors: 8 });
  // Zeroes ending mid-alignment shrink to the boundary before...
  assert.deepEqual(firstRun(sectors('..........dddddd'), 16, 0, 8), { allocated: false, sectors: 8 });
  // ...or, when shorter than the tail, are written as data.
  assert.deepEqual(firstRun(sectors('..dddddd'), 8, 0, 8), { allocated: true, sectors: 8 });
  assert.deepEqual(firstRun(Buffer.alloc(0), 0, 0, 8), { allocated: false, sectors: 0 });
});

test('allocatedRun: short zero runs inside data are data, long ones end the run', () => {
  // -S 4k = 8 sectors, alignment 8.
  const short = sectors('dddddddd....dddddddd' + '.'.repeat(12));
  assert.deepEqual(allocatedRun(short, 32, 8, 0, 8), { allocated: true, sectors: 24 });
  const long = sectors('dddddddd' + '.'.repeat(16) + 'dddddddd');
  assert.deepEqual(allocatedRun(long, 32, 8, 0, 8), { allocated: true, sectors: 8 });
  assert.deepEqual(allocatedRun(long.subarray(8 * SECTOR), 24, 8, 8, 8), { allocated: false, sectors: 16 });
  // A leading zero run is "zero" whatever its length, as in qemu-img.
  assert.deepEqual(allocatedRun(sectors('.ddddddd'), 8, 8, 7, 8), { allocated: false, sectors: 1 });
});

test('pow2floor', () => {
  assert.deepEqual([0, 1, 2, 3, 8, 9, 4095, 4096].map(pow2floor), [0, 1, 2, 2, 8, 8, 2048, 4096]);
});

test('progress prints qemu-img lines: 0, every move above the skip, 100, and a newline', () => {
  let out = '';
  const p = new Progress(true, 1.0, (t) => (out += t));
  for (const v of [0, 0.5, 1.5, 2, 3.25, 50, 100]) p.set(v);
  p.end();
  assert.equal(
    out,
    '    (0.00/100%)\r    (1.50/100%)\r    (3.25/100%)\r    (50.00/100%)\r    (100.00/100%)\r\n',
  );
  let none = '';
  const off = new Progress(false, 1.0, (t) => (none += t));
  off.set(0);
  off.set(100);
  off.end();
  assert.equal(none, '');
});
