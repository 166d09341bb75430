/** Standard INQUIRY data (SPC-4 §6.4.2 Table 142): golden bytes and round trip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeStandardInquiry,
  encodeStandardInquiry,
  STANDARD_INQUIRY_LENGTH,
  VersionDescriptor,
  type StandardInquiry,
} from '../../../src/scsi/data/standard-inquiry.js';

const D: StandardInquiry = {
  peripheralQualifier: 0,
  deviceType: 0,
  removable: false,
  version: 6,
  normAca: false,
  hiSup: true,
  tpgs: 0,
  threePc: false,
  protect: false,
  multiP: false,
  cmdQue: true,
  vendor: 'VDISK',
  product: 'vdisk volume',
  revision: '0001',
  versionDescriptors: [
    VersionDescriptor.SAM5,
    VersionDescriptor.ISCSI,
    VersionDescriptor.SPC4,
    VersionDescriptor.SBC3,
  ],
};

test('golden bytes', () => {
  const b = encodeStandardInquiry(D);
  assert.equal(b.length, STANDARD_INQUIRY_LENGTH);
  assert.deepEqual([...b.subarray(0, 8)], [0x00, 0x00, 0x06, 0x12, 0x5b, 0x00, 0x00, 0x02]);
  assert.equal(b.toString('latin1', 8, 36), 'VDISK   vdisk volume    0001');
  assert.equal(b.subarray(58, 74).toString('hex'), '00a0' + '0960' + '0460' + '04c0' + '0'.repeat(16));
  assert.ok(b.subarray(74).every((x) => x === 0));
});

test('round trip, and qualifier 011b / type 1Fh', () => {
  assert.deepEqual(decodeStandardInquiry(encodeStandardInquiry(D)), {
    ...D,
    vendor: 'VDISK   ',
    product: 'vdisk volume    ',
  });
  const none = encodeStandardInquiry({
    ...D,
    peripheralQualifier: 3,
    deviceType: 0x1f,
    tpgs: 1,
    threePc: true,
  });
  assert.equal(none[0], 0x7f);
  assert.equal(none[5], 0x18);
  assert.throws(() => encodeStandardInquiry({ ...D, vendor: 'é' }), /ASCII/);
  assert.throws(() => decodeStandardInquiry(Buffer.alloc(10)), /too short/);
});
