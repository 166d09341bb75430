/** LBA + length CDB layouts (SBC-3 §5): golden bytes per size, round trips, READ (6) quirks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cdbSize, decodeBlockCdb, encodeBlockCdb, type BlockCdb } from '../../../src/scsi/cdb/block-cdb.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('READ (10) golden: DPO FUA, LBA 12345678h, group 3, 16 blocks', () => {
  const c = decodeBlockCdb(hex('28 18 12345678 03 0010 00'));
  assert.deepEqual(c, {
    opcode: 0x28,
    size: 10,
    flags: 0x18,
    lba: 0x12345678,
    length: 16,
    group: 3,
    control: 0,
  });
});

test('WRITE (6) golden: 21-bit LBA, length 0 kept as 0', () => {
  assert.deepEqual(decodeBlockCdb(hex('0a 1f ffff 00 00')), {
    opcode: 0x0a,
    size: 6,
    flags: 0,
    lba: 0x1fffff,
    length: 0,
    group: 0,
    control: 0,
  });
});

test('WRITE (12) and READ (16) golden', () => {
  assert.equal(decodeBlockCdb(hex('aa 08 00000010 00000200 00 00')).length, 0x200);
  const r16 = decodeBlockCdb(hex('88 00 0000000100000000 00000008 00 00'));
  assert.equal(r16.lba, 2 ** 32);
  assert.equal(r16.length, 8);
  // LBAs past 2^53 clamp to a value no device reaches.
  assert.equal(decodeBlockCdb(hex('88 00 ffffffffffffffff 00000001 00 00')).lba, Number.MAX_SAFE_INTEGER);
});

test('round trips for every size', () => {
  const cases: BlockCdb[] = [
    { opcode: 0x08, size: 6, flags: 0, lba: 0x12345, length: 7, group: 0, control: 0 },
    { opcode: 0x2a, size: 10, flags: 0x08, lba: 77, length: 9, group: 1, control: 0 },
    { opcode: 0xaf, size: 12, flags: 0x02, lba: 5, length: 100000, group: 0, control: 0 },
    { opcode: 0x93, size: 16, flags: 0x09, lba: 2 ** 40, length: 2 ** 31, group: 2, control: 0 },
  ];
  for (const c of cases) assert.deepEqual(decodeBlockCdb(encodeBlockCdb(c)), c);
});

test('sizes by group code; short CDBs refused', () => {
  assert.equal(cdbSize(0x28), 10);
  assert.equal(cdbSize(0x41), 10);
  assert.equal(cdbSize(0x9e), 16);
  assert.equal(cdbSize(0xa8), 12);
  assert.throws(() => cdbSize(0xc0));
  assert.throws(() => decodeBlockCdb(hex('28 00 00')), /shorter/);
});

test('16-byte LBAs around 2^53: exact below, clamped from 2^53 up', () => {
  const at = (hex: string) =>
    decodeBlockCdb(Buffer.from(`88 00 ${hex} 00000001 00 00`.replace(/\s+/g, ''), 'hex')).lba;
  assert.equal(at('001fffffffffffff'), Number.MAX_SAFE_INTEGER);
  assert.equal(at('001ffffffffffffe'), Number.MAX_SAFE_INTEGER - 1);
  assert.equal(at('0020000000000000'), Number.MAX_SAFE_INTEGER);
  assert.equal(at('00000001ffffffff'), 2 ** 33 - 1);
});
