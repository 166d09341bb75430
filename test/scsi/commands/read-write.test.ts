/**
 * READ/WRITE (6/10/12/16), VERIFY, WRITE AND VERIFY and ORWRITE through ScsiTarget.execute, with
 * exact status and sense for each error path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASC, decodeSense, SenseKey } from '../../../src/scsi/index.js';
import { MemoryDevice } from '../../../src/block/index.js';
import { cdb10, cdb16, checkCondition, good, invalidField, MIB, pattern, ready, run } from '../helpers.js';

function cdb12(op: number, lba: number, len: number, flags = 0): number[] {
  const b = Buffer.alloc(12);
  b[0] = op;
  b[1] = flags;
  b.writeUInt32BE(lba, 2);
  b.writeUInt32BE(len, 6);
  return [...b];
}

test('every READ/WRITE size moves the same data', async () => {
  const f = await ready();
  const d = pattern(1024, 3);
  good(await run(f.target, [0x0a, 0, 0, 10, 2, 0], { dataOut: d }));
  assert.deepEqual((await run(f.target, [0x08, 0, 0, 10, 2, 0])).dataIn, d);
  good(await run(f.target, cdb12(0xaa, 20, 2), { dataOut: d }));
  assert.deepEqual((await run(f.target, cdb12(0xa8, 20, 2))).dataIn, d);
  good(await run(f.target, cdb16(0x8a, 30, 2, 0x08), { dataOut: d }));
  assert.deepEqual((await run(f.target, cdb16(0x88, 30, 2, 0x18))).dataIn, d);
  assert.deepEqual((await run(f.target, cdb10(0x28, 10, 6))).dataIn!.subarray(0, 1024), d);
});

test('READ (6) with TRANSFER LENGTH 0 reads 256 blocks; READ (10) with 0 reads nothing', async () => {
  const f = await ready();
  const r6 = await run(f.target, [0x08, 0, 0, 0, 0, 0]);
  good(r6);
  assert.equal(r6.transferLength, 256 * 512);
  assert.equal(r6.dataIn!.length, 256 * 512);
  const r10 = await run(f.target, cdb10(0x28, 0, 0));
  good(r10);
  assert.equal(r10.transferLength, 0);
  assert.equal(r10.dataIn, undefined);
  // 0 blocks at the end is fine, one past the end is not.
  good(await run(f.target, cdb10(0x28, 32768, 0)));
  checkCondition(await run(f.target, cdb10(0x28, 32769, 0)), SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE);
  checkCondition(
    await run(f.target, cdb10(0x28, 0xffffffff, 0)),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LBA_OUT_OF_RANGE,
  );
});

test('beyond the end, past the maximum transfer length, protection fields', async () => {
  const f = await ready();
  for (const op of [0x28, 0x2a, 0x2e, 0x2f]) {
    checkCondition(
      await run(f.target, cdb10(op, 32767, 2), { dataOut: Buffer.alloc(1024) }),
      SenseKey.ILLEGAL_REQUEST,
      ASC.LBA_OUT_OF_RANGE,
    );
  }
  checkCondition(
    await run(f.target, cdb16(0x88, 2n ** 63n, 1)),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LBA_OUT_OF_RANGE,
  );
  invalidField(await run(f.target, cdb10(0x28, 0, 1, 0x20)), 1, 5); // RDPROTECT 001b
  invalidField(await run(f.target, cdb10(0x2a, 0, 1, 0xe0), { dataOut: Buffer.alloc(512) }), 1, 7); // WRPROTECT
  invalidField(await run(f.target, cdb10(0x28, 0, 1, 0x01)), 1, 0); // reserved bit 0
  invalidField(await run(f.target, [0x28, 0, 0, 0, 0, 0, 0x40, 0, 1, 0]), 6, 6); // reserved bits of byte 6
});

test('a transfer past MAXIMUM TRANSFER LENGTH (32 MiB) is INVALID FIELD IN CDB', async () => {
  const f = await ready({}, new MemoryDevice(64 * MIB));
  invalidField(await run(f.target, cdb16(0x88, 0, 65537)), 10);
  invalidField(await run(f.target, cdb12(0xaa, 0, 65537), { dataOut: Buffer.alloc(512) }), 6);
  assert.equal((await run(f.target, cdb16(0x88, 0, 65536))).dataIn!.length, 32 * MIB);
});

test('Data-Out shorter than the CDB: whole blocks are written, a partial block is refused', async () => {
  const f = await ready();
  good(await run(f.target, cdb10(0x2a, 0, 2), { dataOut: Buffer.alloc(1024, 'a') }));
  const r = await run(f.target, cdb10(0x2a, 0, 2), { dataOut: Buffer.alloc(512, 'b') });
  good(r);
  assert.equal(r.transferLength, 1024);
  const back = (await run(f.target, cdb10(0x28, 0, 2))).dataIn!;
  assert.ok(back.subarray(0, 512).every((x) => x === 0x62));
  assert.ok(back.subarray(512).every((x) => x === 0x61));
  // Nothing at all: nothing written, GOOD.
  good(await run(f.target, cdb10(0x2a, 0, 1)));
  checkCondition(
    await run(f.target, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(200) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT,
  );
  // Longer than the CDB: only the CDB's blocks are written.
  good(await run(f.target, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(1024, 'c') }));
  const again = (await run(f.target, cdb10(0x28, 0, 2))).dataIn!;
  assert.equal(again[0], 0x63);
  assert.equal(again[512], 0x61);
});

test('write protection: readOnly option, and DATA PROTECT before range checks', async () => {
  const f = await ready({ readOnly: true });
  for (const cdb of [
    cdb10(0x2a, 0, 1),
    cdb16(0x8a, 0, 1),
    cdb10(0x2e, 0, 1),
    cdb16(0x8b, 0, 1),
    cdb10(0x41, 0, 1),
  ]) {
    checkCondition(
      await run(f.target, cdb, { dataOut: Buffer.alloc(512) }),
      SenseKey.DATA_PROTECT,
      ASC.WRITE_PROTECTED,
    );
  }
  good(await run(f.target, cdb10(0x28, 0, 1)));
});

test('VERIFY: BYTCHK 00b, 01b, 11b, reserved 10b, and MISCOMPARE with the byte offset', async () => {
  const f = await ready();
  const d = pattern(2048, 9);
  good(await run(f.target, cdb10(0x2a, 50, 4), { dataOut: d }));
  const v0 = await run(f.target, cdb10(0x2f, 50, 4));
  good(v0);
  assert.equal(v0.transferLength, 0);
  const v1 = await run(f.target, cdb10(0x2f, 50, 4, 0x02), { dataOut: d });
  good(v1);
  assert.equal(v1.transferLength, 2048);
  const bad = Buffer.from(d);
  bad[1000] ^= 0xff;
  const mis = await run(f.target, cdb16(0x8f, 50, 4, 0x02), { dataOut: bad });
  checkCondition(mis, SenseKey.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY);
  assert.equal(decodeSense(mis.sense!).information, 1000n);
  invalidField(await run(f.target, cdb10(0x2f, 50, 4, 0x04)), 1, 2);
  // BYTCHK 11b: one block against every block.
  const block = Buffer.alloc(512, 0x5a);
  good(await run(f.target, cdb10(0x2a, 60, 3), { dataOut: Buffer.alloc(1536, 0x5a) }));
  const v3 = await run(f.target, cdb12(0xaf, 60, 3, 0x06), { dataOut: block });
  good(v3);
  assert.equal(v3.transferLength, 512);
  const mis3 = await run(f.target, cdb12(0xaf, 59, 3, 0x06), { dataOut: block });
  checkCondition(mis3, SenseKey.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY);
  assert.equal(decodeSense(mis3.sense!).information, 0n);
  good(await run(f.target, cdb10(0x2f, 0, 0, 0x02)));
});

test('WRITE AND VERIFY writes the data (10/12/16) and BYTCHK 11b writes one block everywhere', async () => {
  const f = await ready();
  const d = pattern(1024, 4);
  good(await run(f.target, cdb10(0x2e, 5, 2), { dataOut: d }));
  good(await run(f.target, cdb12(0xae, 7, 2, 0x02), { dataOut: d }));
  good(await run(f.target, cdb16(0x8e, 9, 2, 0x10), { dataOut: d }));
  const back = (await run(f.target, cdb10(0x28, 5, 6))).dataIn!;
  assert.deepEqual(back, Buffer.concat([d, d, d]));
  good(await run(f.target, cdb10(0x2e, 20, 3, 0x06), { dataOut: Buffer.alloc(512, 7) }));
  assert.ok((await run(f.target, cdb10(0x28, 20, 3))).dataIn!.every((x) => x === 7));
});

test('ORWRITE (16) ORs the Data-Out into the blocks', async () => {
  const f = await ready();
  good(await run(f.target, cdb10(0x2a, 3, 1), { dataOut: Buffer.alloc(512, 0x0f) }));
  good(await run(f.target, cdb16(0x8b, 3, 1), { dataOut: Buffer.alloc(512, 0xf0) }));
  assert.ok((await run(f.target, cdb10(0x28, 3, 1))).dataIn!.every((x) => x === 0xff));
  checkCondition(
    await run(f.target, cdb16(0x8b, 32768, 1), { dataOut: Buffer.alloc(512) }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LBA_OUT_OF_RANGE,
  );
  good(await run(f.target, cdb16(0x8b, 0, 0)));
});

test('4096-byte logical blocks', async () => {
  const f = await ready({ blockSize: 4096 });
  const rc = (await run(f.target, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0])).dataIn!;
  assert.equal(rc.readUInt32BE(0), 4095);
  assert.equal(rc.readUInt32BE(4), 4096);
  const d = pattern(8192, 1);
  good(await run(f.target, cdb10(0x2a, 4094, 2), { dataOut: d }));
  assert.deepEqual((await run(f.target, cdb10(0x28, 4094, 2))).dataIn, d);
  checkCondition(await run(f.target, cdb10(0x28, 4095, 2)), SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE);
});
