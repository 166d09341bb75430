/**
 * The first commands end to end through ScsiTarget.execute on a MemoryDevice: power-on unit
 * attention, INQUIRY, TEST UNIT READY, REPORT LUNS, READ CAPACITY, READ/WRITE, SYNCHRONIZE
 * CACHE, MODE SENSE, REQUEST SENSE and unknown opcodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASC, decodeSense, ScsiStatus, SenseKey } from '../../src/scsi/index.js';
import {
  checkCondition,
  cdb10,
  cdb16,
  fixture,
  good,
  invalidField,
  pattern,
  ready,
  run,
  nexus,
} from './helpers.js';

test('a nexus sees POWER ON, RESET on its first command; INQUIRY is not failed by it', async () => {
  const f = fixture();
  const inq = await run(f.target, [0x12, 0, 0, 0, 96, 0], { nexus: f.a });
  good(inq);
  const tur = await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a });
  checkCondition(tur, SenseKey.UNIT_ATTENTION, ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET);
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }));
  // Another nexus has its own.
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }),
    SenseKey.UNIT_ATTENTION,
    ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET,
  );
});

test('REQUEST SENSE returns and clears the pending unit attention, then NO SENSE with GOOD', async () => {
  const f = fixture();
  const r = await run(f.target, [0x03, 0, 0, 0, 252, 0], { nexus: f.a });
  good(r);
  const s = decodeSense(r.dataIn!);
  assert.equal(s.key, SenseKey.UNIT_ATTENTION);
  assert.equal(s.asc, ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET);
  const r2 = await run(f.target, [0x03, 1, 0, 0, 252, 0], { nexus: f.a });
  good(r2);
  assert.deepEqual(decodeSense(r2.dataIn!), { format: 'descriptor', current: true, key: 0, asc: 0 });
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }));
});

test('standard INQUIRY data', async () => {
  const f = await ready({ product: 'test volume' });
  const r = await run(f.target, [0x12, 0, 0, 0, 255, 0]);
  good(r);
  const d = r.dataIn!;
  assert.equal(d.length, 96);
  assert.equal(r.transferLength, 255);
  assert.equal(d[0], 0x00);
  assert.equal(d[2], 0x06);
  assert.equal(d[3], 0x12);
  assert.equal(d[4], 91);
  assert.equal(d[7], 0x02);
  assert.equal(d.toString('latin1', 8, 36), 'VDISK   test volume     0001');
  // Allocation length clips.
  const short = await run(f.target, [0x12, 0, 0, 0, 5, 0]);
  assert.deepEqual(short.dataIn, d.subarray(0, 5));
});

test('INQUIRY: page code without EVPD, unknown VPD page, reserved bits', async () => {
  const f = await ready();
  invalidField(await run(f.target, [0x12, 0, 0x80, 0, 255, 0]), 2);
  invalidField(await run(f.target, [0x12, 1, 0x42, 0, 255, 0]), 2);
  invalidField(await run(f.target, [0x12, 2, 0, 0, 255, 0]), 1, 1);
  invalidField(await run(f.target, [0x12, 0, 0, 0, 255, 4]), 5, 2); // NACA
});

test('VPD 00h, 80h, 83h', async () => {
  const f = await ready();
  const p0 = (await run(f.target, [0x12, 1, 0x00, 0, 255, 0])).dataIn!;
  assert.deepEqual([...p0], [0, 0, 0, 8, 0x00, 0x80, 0x83, 0x86, 0x8f, 0xb0, 0xb1, 0xb2]);
  const p80 = (await run(f.target, [0x12, 1, 0x80, 0, 255, 0])).dataIn!;
  assert.equal(p80.toString('latin1', 4), UUID_HEX);
  const p83 = (await run(f.target, [0x12, 1, 0x83, 0, 255, 0])).dataIn!;
  assert.equal(p83[1], 0x83);
  // First designator: NAA 6, binary, LU association, 16 bytes.
  assert.deepEqual([...p83.subarray(4, 8)], [0x01, 0x03, 0x00, 0x10]);
  assert.equal(p83[8]! >> 4, 6);
});

const UUID_HEX = '6f1c2a3b4d5e4f608a7b9c0d1e2f3a4b';

test('REPORT LUNS lists the mapped LUNs', async () => {
  const f = await ready();
  const r = await run(f.target, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  good(r);
  assert.deepEqual([...r.dataIn!], [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  invalidField(await run(f.target, [0xa0, 0, 0x03, 0, 0, 0, 0, 0, 1, 0, 0, 0]), 2);
});

test('READ CAPACITY (10) and (16)', async () => {
  const f = await ready();
  const r10 = await run(f.target, [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...r10.dataIn!], [0, 0, 0x7f, 0xff, 0, 0, 2, 0]);
  const r16 = await run(f.target, [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]);
  good(r16);
  const d = r16.dataIn!;
  assert.equal(d.length, 32);
  assert.equal(d.readBigUInt64BE(0), 32767n);
  assert.equal(d.readUInt32BE(8), 512);
  assert.equal(d[13], 0); // byte-granular device: one logical block per physical block
  assert.equal(d[14], 0); // discard=ignore: no LBPME
});

test('WRITE (10) then READ (10) and READ (16) return the data', async () => {
  const f = await ready();
  const data = pattern(4096, 7);
  good(await run(f.target, cdb10(0x2a, 100, 8), { dataOut: data }));
  const r = await run(f.target, cdb10(0x28, 100, 8));
  good(r);
  assert.equal(r.transferLength, 4096);
  assert.deepEqual(r.dataIn, data);
  const r16 = await run(f.target, cdb16(0x88, 100, 8));
  assert.deepEqual(r16.dataIn, data);
  good(await run(f.target, cdb10(0x35, 0, 0)));
});

test('out-of-range LBA and unknown opcode', async () => {
  const f = await ready();
  checkCondition(await run(f.target, cdb10(0x28, 32767, 2)), SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE);
  checkCondition(
    await run(f.target, cdb16(0x88, 0xffffffffffffffffn, 1)),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LBA_OUT_OF_RANGE,
  );
  checkCondition(
    await run(f.target, [0xc0, 0, 0, 0, 0, 0]),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_COMMAND_OPERATION_CODE,
  );
});

test('a LUN without a logical unit', async () => {
  const f = await ready();
  const inq = await run(f.target, [0x12, 0, 0, 0, 96, 0], { lun: 5 });
  good(inq);
  assert.equal(inq.dataIn![0], 0x7f);
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { lun: 5 }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LOGICAL_UNIT_NOT_SUPPORTED,
  );
  const rl = await run(f.target, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], { lun: 5 });
  assert.equal(rl.dataIn!.readUInt32BE(0), 8);
  const rs = await run(f.target, [0x03, 0, 0, 0, 18, 0], { lun: 5 });
  good(rs);
  assert.equal(decodeSense(rs.dataIn!).asc, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
  assert.equal(
    await f.target.taskManagement({ nexus: nexus(1), lun: 5, fn: 'abort-task-set' }),
    'incorrect-lun',
  );
});

test('MODE SENSE (6) all pages', async () => {
  const f = await ready();
  const r = await run(f.target, [0x1a, 0, 0x3f, 0, 255, 0]);
  good(r);
  const d = r.dataIn!;
  assert.equal(d[0], d.length - 1);
  assert.equal(d[2], 0x10); // DPOFUA, not write protected
  assert.equal(d[3], 8);
  assert.equal(d.readUInt32BE(4), 32768);
  const codes: number[] = [];
  for (let off = 12; off < d.length; off += 2 + d[off + 1]!) codes.push(d[off]! & 0x3f);
  assert.deepEqual(codes, [0x01, 0x08, 0x0a, 0x1c]);
  assert.equal(r.status, ScsiStatus.GOOD);
});
