/**
 * The core over a real qcow2 image (createImage/openImage): data round trips, UNMAP and WRITE
 * SAME deallocating clusters, GET LBA STATUS from qcow2 block status, and a read-only image.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { checkImage, createImage, openImage } from '../../src/formats/index.js';
import { ASC, SenseKey } from '../../src/scsi/index.js';
import { decodeLbaStatus } from '../../src/scsi/data/lba-status.js';
import { encodeUnmapList } from '../../src/scsi/data/unmap-list.js';
import { tmpDir } from '../helpers/tmp.js';
import { cdb10, cdb16, checkCondition, good, MIB, pattern, ready, run } from './helpers.js';

test('qcow2: writes, reads, UNMAP, WRITE SAME UNMAP and GET LBA STATUS', async () => {
  const file = path.join(tmpDir(), 'disk.qcow2');
  await createImage(file, { format: 'qcow2', size: 64 * MIB });
  const img = await openImage(file, { cache: 'writeback' });
  try {
    const f = await ready({ discard: 'on', cacheMode: 'writeback' }, img);
    const st0 = decodeLbaStatus((await run(f.target, cdb16(0x9e, 0, 4096, 0x12))).dataIn!);
    assert.deepEqual(st0, [{ lba: 0n, blocks: 131072, status: 1 }]);
    const d = pattern(256 * 1024, 5);
    good(await run(f.target, cdb10(0x2a, 1024, 512), { dataOut: d }));
    assert.deepEqual((await run(f.target, cdb10(0x28, 1024, 512))).dataIn, d);
    const st1 = decodeLbaStatus((await run(f.target, cdb16(0x9e, 0, 4096, 0x12))).dataIn!);
    assert.deepEqual(st1.slice(0, 3), [
      { lba: 0n, blocks: 1024, status: 1 },
      { lba: 1024n, blocks: 512, status: 0 },
      { lba: 1536n, blocks: 131072 - 1536, status: 1 },
    ]);
    // Unmap the first 64 KiB cluster of the data, and the last one by WRITE SAME with UNMAP.
    const list = encodeUnmapList([{ lba: 1024n, blocks: 128 }]);
    good(await run(f.target, [0x42, 0, 0, 0, 0, 0, 0, 0, list.length, 0], { dataOut: list }));
    good(await run(f.target, cdb16(0x93, 1408, 128, 0x08), { dataOut: Buffer.alloc(512) }));
    const back = (await run(f.target, cdb10(0x28, 1024, 512))).dataIn!;
    assert.ok(back.subarray(0, 64 * 1024).every((x) => x === 0));
    assert.deepEqual(back.subarray(64 * 1024, 192 * 1024), d.subarray(64 * 1024, 192 * 1024));
    assert.ok(back.subarray(192 * 1024).every((x) => x === 0));
    const st2 = decodeLbaStatus((await run(f.target, cdb16(0x9e, 1024, 4096, 0x12))).dataIn!);
    assert.deepEqual(st2.slice(0, 3), [
      { lba: 1024n, blocks: 128, status: 1 },
      { lba: 1152n, blocks: 256, status: 0 },
      { lba: 1408n, blocks: 131072 - 1408, status: 1 },
    ]);
    good(await run(f.target, cdb10(0x35, 0, 0)));
  } finally {
    await img.close();
  }
  const ro = await openImage(file, { readOnly: true });
  try {
    const f = await ready({}, ro);
    checkCondition(
      await run(f.target, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }),
      SenseKey.DATA_PROTECT,
      ASC.WRITE_PROTECTED,
    );
    const ms = (await run(f.target, [0x1a, 0, 0x3f, 0, 255, 0])).dataIn!;
    assert.equal(ms[2]! & 0x80, 0x80, 'WP');
    assert.equal((await run(f.target, cdb10(0x28, 1152, 1))).dataIn![0], pattern(256 * 1024, 5)[128 * 512]);
  } finally {
    await ro.close();
  }
});

test('qcow2: 64 concurrent writes and reads from two nexuses, then drain with I/O in flight', async () => {
  const file = path.join(tmpDir(), 'busy.qcow2');
  await createImage(file, { format: 'qcow2', size: 64 * MIB });
  const img = await openImage(file);
  try {
    const f = await ready({ discard: 'on' }, img);
    // Interleaved 4 KiB writes that allocate clusters concurrently, some sharing a cluster.
    const writes = Array.from({ length: 64 }, (_, i) =>
      run(f.target, cdb10(0x2a, i * 24, 8), { nexus: i % 2 ? f.a : f.b, dataOut: pattern(4096, i) }),
    );
    const drained = f.lu.drain();
    for (const r of await Promise.all(writes)) good(r);
    await drained;
    assert.equal(f.lu.taskSet.size, 0);
    const reads = await Promise.all(
      Array.from({ length: 64 }, (_, i) => run(f.target, cdb10(0x28, i * 24, 8))),
    );
    reads.forEach((r, i) => assert.deepEqual(r.dataIn, pattern(4096, i)));
  } finally {
    await img.close();
  }
  const check = await checkImage(file);
  assert.equal(check.corruptions, 0);
  assert.equal(check.leaks, 0);
});
