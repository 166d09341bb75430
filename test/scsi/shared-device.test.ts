/**
 * sharedDevice: an NBD-side write to a volume that is also a logical unit waits while a COMPARE
 * AND WRITE (or any holder of the LU's atomic lock in exclusive mode) works on its range, and
 * passes straight through elsewhere; reads never wait.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../src/block/index.js';
import { LogicalUnit, sharedDevice } from '../../src/scsi/index.js';

const MIB = 1024 * 1024;

test('writes, zeroes and discards through the shared view wait for an exclusive atomic holder of their range', async () => {
  const dev = new MemoryDevice(MIB);
  const lu = new LogicalUnit(dev, { uuid: '00000000-0000-4000-8000-0000000000aa' });
  const view = sharedDevice(lu);
  assert.equal(view.size, MIB);

  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  // A COMPARE AND WRITE in progress on [4096, 8192): it compares, then writes 0xcc.
  const caw = lu.atomic.run(4096, 8192, true, async () => {
    await held;
    await dev.write(4096, Buffer.alloc(4096, 0xcc));
  });

  const order: string[] = [];
  const inside = view.write(4096, Buffer.alloc(512, 0x11)).then(() => order.push('nbd write inside'));
  const zero = view.writeZeroes(6144, 512).then(() => order.push('nbd zero inside'));
  const outside = view.write(0, Buffer.alloc(512, 0x22)).then(() => order.push('nbd write outside'));
  const buf = Buffer.alloc(512);
  await view.read(4096, buf); // reads do not wait
  await outside;
  assert.deepEqual(order, ['nbd write outside'], 'writes into the held range wait');

  release();
  await caw;
  await Promise.all([inside, zero]);
  assert.deepEqual(order.slice(1).sort(), ['nbd write inside', 'nbd zero inside']);
  // The NBD write came after the CAW's write, so it is what the block holds now.
  const got = Buffer.alloc(512);
  await dev.read(4096, got);
  assert.ok(got.equals(Buffer.alloc(512, 0x11)));
  await dev.read(6144, got);
  assert.ok(got.equals(Buffer.alloc(512, 0)));
  await view.close(); // only flushes: the device stays usable
  await dev.read(0, got);
  assert.ok(got.equals(Buffer.alloc(512, 0x22)));
});
