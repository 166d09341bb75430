/** INQUIRY CDB (SPC-4 §6.4.1): golden bytes and round trip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeInquiryCdb, encodeInquiryCdb } from '../../../src/scsi/cdb/inquiry-cdb.js';

test('INQUIRY EVPD page 83h, allocation length 0104h (golden)', () => {
  const b = Buffer.from('120183010400', 'hex');
  assert.deepEqual(decodeInquiryCdb(b), {
    evpd: true,
    reservedBits: 0,
    pageCode: 0x83,
    allocationLength: 0x104,
    control: 0,
  });
  assert.deepEqual(encodeInquiryCdb({ evpd: true, pageCode: 0x83, allocationLength: 0x104 }), b);
  assert.equal(decodeInquiryCdb(Buffer.from('120300006000', 'hex')).reservedBits, 2);
});
