/**
 * Sense data codec (SPC-4 §4.5): golden bytes for the fixed and descriptor formats built from
 * Tables 26-31, field pointer bits (Table 32), round trips and bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeFieldPointer,
  decodeSense,
  encodeSense,
  fieldPointerSks,
  FIXED_SENSE_LENGTH,
} from '../../src/scsi/sense.js';
import { ASC, SenseKey } from '../../src/scsi/sense-codes.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('fixed format: ILLEGAL REQUEST / INVALID FIELD IN CDB, field pointer byte 2 (golden)', () => {
  const b = encodeSense({
    format: 'fixed',
    current: true,
    key: SenseKey.ILLEGAL_REQUEST,
    asc: ASC.INVALID_FIELD_IN_CDB,
    senseKeySpecific: fieldPointerSks({ cdb: true, byte: 2 }),
  });
  // 70h current, key 5, additional length 0Ah, ASC 24h, SKSV | C/D, field pointer 0002h.
  assert.deepEqual(b, hex('70 00 05 00000000 0a 00000000 24 00 00 c0 0002'));
  assert.equal(b.length, FIXED_SENSE_LENGTH);
});

test('fixed format: MISCOMPARE with INFORMATION (VALID = 1) (golden)', () => {
  const b = encodeSense({
    format: 'fixed',
    current: true,
    key: SenseKey.MISCOMPARE,
    asc: ASC.MISCOMPARE_DURING_VERIFY,
    information: 0x1234n,
  });
  assert.deepEqual(b, hex('f0 00 0e 00001234 0a 00000000 1d 00 00 000000'));
});

test('descriptor format: information and sense key specific descriptors (golden)', () => {
  const b = encodeSense({
    format: 'descriptor',
    current: true,
    key: SenseKey.ILLEGAL_REQUEST,
    asc: ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    information: 7n,
    senseKeySpecific: fieldPointerSks({ cdb: false, byte: 12, bit: 2 }),
  });
  assert.deepEqual(
    b,
    hex('72 05 26 00 000000 14' + '00 0a 80 00 0000000000000007' + '02 06 0000 8a 000c 00'),
  );
});

test('field pointer: C/D, BPV and bit pointer', () => {
  assert.equal(fieldPointerSks({ cdb: true, byte: 1, bit: 4 }), 0xcc0001);
  assert.deepEqual(decodeFieldPointer(0xcc0001), { cdb: true, byte: 1, bit: 4 });
  assert.deepEqual(decodeFieldPointer(0x800010), { cdb: false, byte: 16 });
  assert.equal(decodeFieldPointer(0x400001), undefined);
});

test('round trips, other descriptors kept', () => {
  const cases = [
    { format: 'fixed' as const, current: true, key: 6, asc: ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET },
    { format: 'fixed' as const, current: false, key: 3, asc: ASC.UNRECOVERED_READ_ERROR, information: 99n },
    { format: 'descriptor' as const, current: true, key: 7, asc: ASC.WRITE_PROTECTED },
    {
      format: 'descriptor' as const,
      current: true,
      key: 5,
      asc: ASC.INVALID_FIELD_IN_CDB,
      senseKeySpecific: 0xc00001,
      other: [hex('0c 02 ab cd')],
    },
  ];
  for (const c of cases) assert.deepEqual(decodeSense(encodeSense(c)), c);
});

test('bad sense data is refused', () => {
  assert.throws(() => decodeSense(Buffer.alloc(4)), /too short/);
  assert.throws(() => decodeSense(hex('7f000000000000000000000000000000')), /response code/);
  assert.throws(() => decodeSense(hex('72 05 24 00 000000 04 02 06 00 00')), /additional length/);
});
