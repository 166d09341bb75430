/** UNMAP, WRITE SAME (10/16) and GET LBA STATUS with discard=on and discard=ignore. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASC, SenseKey } from '../../../src/scsi/index.js';
import { decodeLbaStatus } from '../../../src/scsi/data/lba-status.js';
import { encodeUnmapList } from '../../../src/scsi/data/unmap-list.js';
import { MemoryDevice } from '../../../src/block/index.js';
import { cdb10, cdb16, checkCondition, good, invalidField, MIB, ready, run } from '../helpers.js';

const unmapCdb = (len: number, anchor = false) => [
  0x42,
  anchor ? 1 : 0,
  0,
  0,
  0,
  0,
  0,
  len >> 8,
  len & 0xff,
  0,
];
const lbaStatus = (lba: number, alloc = 4096) => cdb16(0x9e, lba, alloc, 0x12);

test('UNMAP deallocates; blocks read back as zeroes; GET LBA STATUS reports them', async () => {
  const f = await ready({ discard: 'on' });
  good(await run(f.target, cdb10(0x2a, 0, 512), { dataOut: Buffer.alloc(512 * 512, 0xaa) }));
  const before = decodeLbaStatus((await run(f.target, lbaStatus(0))).dataIn!);
  assert.deepEqual(before[0], { lba: 0n, blocks: 512, status: 0 });
  const list = encodeUnmapList([
    { lba: 128n, blocks: 128 },
    { lba: 300n, blocks: 0 },
  ]);
  good(await run(f.target, unmapCdb(list.length), { dataOut: list }));
  const back = (await run(f.target, cdb10(0x28, 120, 16))).dataIn!;
  assert.ok(back.subarray(0, 8 * 512).every((x) => x === 0xaa));
  assert.ok(back.subarray(8 * 512).every((x) => x === 0));
  const st = decodeLbaStatus((await run(f.target, lbaStatus(0))).dataIn!);
  assert.deepEqual(st.slice(0, 3), [
    { lba: 0n, blocks: 128, status: 0 },
    { lba: 128n, blocks: 128, status: 1 },
    { lba: 256n, blocks: 256, status: 0 },
  ]);
  // Starting inside a run: the first descriptor starts at the requested LBA.
  assert.deepEqual(decodeLbaStatus((await run(f.target, lbaStatus(200))).dataIn!)[0], {
    lba: 200n,
    blocks: 56,
    status: 1,
  });
  // Room for one descriptor only.
  assert.equal(decodeLbaStatus((await run(f.target, lbaStatus(0, 24))).dataIn!).length, 1);
  checkCondition(await run(f.target, lbaStatus(32768)), SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE);
});

test('UNMAP parameter list validation', async () => {
  const f = await ready({ discard: 'on' });
  good(await run(f.target, unmapCdb(0)));
  good(await run(f.target, unmapCdb(8), { dataOut: encodeUnmapList([]) }));
  checkCondition(
    await run(f.target, unmapCdb(6), { dataOut: Buffer.alloc(6) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.PARAMETER_LIST_LENGTH_ERROR,
  );
  const one = encodeUnmapList([{ lba: 0n, blocks: 1 }]);
  checkCondition(
    await run(f.target, unmapCdb(one.length), { dataOut: one.subarray(0, 10) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.PARAMETER_LIST_LENGTH_ERROR,
  );
  const oob = encodeUnmapList([
    { lba: 0n, blocks: 1 },
    { lba: 32767n, blocks: 2 },
  ]);
  checkCondition(
    await run(f.target, unmapCdb(oob.length), { dataOut: oob }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LBA_OUT_OF_RANGE,
  );
  const far = encodeUnmapList([{ lba: 2n ** 63n, blocks: 1 }]);
  checkCondition(
    await run(f.target, unmapCdb(far.length), { dataOut: far }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LBA_OUT_OF_RANGE,
  );
  // More blocks in total than MAXIMUM UNMAP LBA COUNT (FFFFFFFFh): the second descriptor's count.
  const huge = encodeUnmapList([
    { lba: 0n, blocks: 0xffffffff },
    { lba: 0n, blocks: 1 },
  ]);
  checkCondition(
    await run(f.target, unmapCdb(huge.length), { dataOut: huge }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    {
      cdb: false,
      byte: 32,
    },
  );
  assert.throws(
    () => encodeUnmapList(Array.from({ length: 4096 }, () => ({ lba: 0n, blocks: 0 }))),
    /too many/,
  );
  invalidField(await run(f.target, unmapCdb(one.length, true), { dataOut: one }), 1, 0);
});

test('UNMAP is not offered with discard=ignore; a read-only LU refuses it with WRITE PROTECTED', async () => {
  const f = await ready();
  const one = encodeUnmapList([{ lba: 0n, blocks: 1 }]);
  checkCondition(
    await run(f.target, unmapCdb(one.length), { dataOut: one }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_COMMAND_OPERATION_CODE,
  );
  const ro = await ready({ discard: 'on', readOnly: true });
  checkCondition(
    await run(ro.target, unmapCdb(one.length), { dataOut: one }),
    SenseKey.DATA_PROTECT,
    ASC.WRITE_PROTECTED,
  );
  checkCondition(await run(ro.target, cdb16(0x93, 0, 1, 0x09)), SenseKey.DATA_PROTECT, ASC.WRITE_PROTECTED);
  const roDev = await ready({ discard: 'on' }, new MemoryDevice(MIB, { readOnly: true }));
  checkCondition(
    await run(roDev.target, unmapCdb(one.length), { dataOut: one }),
    SenseKey.DATA_PROTECT,
    ASC.WRITE_PROTECTED,
  );
  const lbp = (await run(f.target, [0x12, 1, 0xb2, 0, 64, 0])).dataIn!;
  assert.equal(lbp[5], 0);
  const rc16 = (await run(f.target, cdb16(0x9e, 0, 32, 0x10))).dataIn!;
  assert.equal(rc16[14]! & 0xc0, 0);
  // Without LBPME every block is mapped.
  assert.deepEqual(decodeLbaStatus((await run(f.target, lbaStatus(5))).dataIn!), [
    { lba: 5n, blocks: 32763, status: 0 },
  ]);
});

test('WRITE SAME: pattern, zero, UNMAP, NDOB, 0 blocks to the end, Data-Out size, ANCHOR', async () => {
  const f = await ready({ discard: 'on' });
  const block = Buffer.alloc(512);
  block.write('vdisk', 0);
  good(await run(f.target, cdb10(0x41, 10, 300), { dataOut: block }));
  const back = (await run(f.target, cdb10(0x28, 10, 300))).dataIn!;
  for (let i = 0; i < 300; i++) assert.equal(back.toString('latin1', i * 512, i * 512 + 5), 'vdisk');
  // UNMAP = 1 with a non-zero block still unmaps (LBPRZ = 1: reads zero).
  good(await run(f.target, cdb10(0x41, 10, 100, 0x08), { dataOut: Buffer.alloc(512, 0xff) }));
  assert.ok((await run(f.target, cdb10(0x28, 10, 100))).dataIn!.every((x) => x === 0));
  // NDOB: no Data-Out, zeroes.
  good(await run(f.target, cdb16(0x93, 110, 200, 0x09)));
  assert.ok((await run(f.target, cdb10(0x28, 110, 200))).dataIn!.every((x) => x === 0));
  // Zero blocks: to the end of the LU.
  good(await run(f.target, cdb10(0x2a, 32760, 8), { dataOut: Buffer.alloc(4096, 1) }));
  good(await run(f.target, cdb10(0x41, 32764, 0), { dataOut: Buffer.alloc(512, 2) }));
  const tail = (await run(f.target, cdb10(0x28, 32760, 8))).dataIn!;
  assert.ok(tail.subarray(0, 2048).every((x) => x === 1));
  assert.ok(tail.subarray(2048).every((x) => x === 2));
  checkCondition(
    await run(f.target, cdb10(0x41, 32769, 0), { dataOut: block }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LBA_OUT_OF_RANGE,
  );
  checkCondition(
    await run(f.target, cdb16(0x93, 32767, 2), { dataOut: block }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LBA_OUT_OF_RANGE,
  );
  for (const size of [256, 1024]) {
    checkCondition(
      await run(f.target, cdb10(0x41, 0, 1, 0x08), { dataOut: Buffer.alloc(size) }),
      SenseKey.ILLEGAL_REQUEST,
      ASC.INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT,
    );
  }
  invalidField(await run(f.target, cdb10(0x41, 0, 1, 0x10), { dataOut: block }), 1, 4);
  invalidField(await run(f.target, cdb10(0x41, 0, 1, 0x01), { dataOut: block }), 1, 0); // NDOB is 16-byte only
});

test('WRITE SAME beyond MAXIMUM WRITE SAME LENGTH is INVALID FIELD IN CDB', async () => {
  const { MemoryDevice } = await import('../../../src/block/index.js');
  const f = await ready({}, new MemoryDevice(4 * 1024 * 1024 * 1024));
  invalidField(await run(f.target, cdb16(0x93, 0, 2 ** 21 + 1), { dataOut: Buffer.alloc(512) }), 10);
  invalidField(await run(f.target, cdb10(0x41, 0, 0), { dataOut: Buffer.alloc(512) }), 7);
});

test('GET LBA STATUS reads past the first 1 GiB window', async () => {
  const f = await ready({ discard: 'on' }, new MemoryDevice(3 * 1024 * MIB));
  const lba = (2.5 * 1024 * MIB) / 512;
  good(await run(f.target, cdb16(0x8a, lba, 128), { dataOut: Buffer.alloc(128 * 512, 1) }));
  assert.deepEqual(decodeLbaStatus((await run(f.target, lbaStatus(0))).dataIn!), [
    { lba: 0n, blocks: lba, status: 1 },
    { lba: BigInt(lba), blocks: 128, status: 0 },
    { lba: BigInt(lba + 128), blocks: (3 * 1024 * MIB) / 512 - lba - 128, status: 1 },
  ]);
});
