/**
 * Extended INQUIRY (SPC-4 §7.8.7), Block Limits (SBC-3 §6.5.3), Block Device Characteristics
 * (SBC-3 §6.5.2) and Logical Block Provisioning (SBC-3 §6.5.4) pages: golden bytes, round trips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeBlockDeviceCharacteristics,
  encodeBlockDeviceCharacteristics,
} from '../../../src/scsi/vpd/block-device-characteristics.js';
import { decodeBlockLimits, encodeBlockLimits } from '../../../src/scsi/vpd/block-limits.js';
import { decodeExtendedInquiry, encodeExtendedInquiry } from '../../../src/scsi/vpd/extended-inquiry.js';
import {
  decodeLogicalBlockProvisioning,
  encodeLogicalBlockProvisioning,
} from '../../../src/scsi/vpd/logical-block-provisioning.js';

test('Extended INQUIRY golden', () => {
  const d = {
    headSup: true,
    ordSup: true,
    simpSup: true,
    vSup: true,
    nvSup: false,
    luiclr: true,
    maxSenseLength: 0,
  };
  const b = encodeExtendedInquiry(0, d);
  assert.equal(b.length, 64);
  assert.equal(b.subarray(0, 10).toString('hex'), '0086003c000701010000');
  assert.deepEqual(decodeExtendedInquiry(b), d);
});

test('Block Limits golden', () => {
  const d = {
    wsnz: false,
    maxCompareAndWriteLength: 0,
    optimalTransferLengthGranularity: 8,
    maxTransferLength: 16384,
    optimalTransferLength: 16384,
    maxPrefetchLength: 16384,
    maxUnmapLbaCount: 0xffffffff,
    maxUnmapBlockDescriptorCount: 4095,
    optimalUnmapGranularity: 8,
    unmapGranularityAlignment: 0,
    maxWriteSameLength: 0x200000n,
  };
  const b = encodeBlockLimits(0, d);
  assert.equal(
    b.subarray(0, 44).toString('hex'),
    '00b0003c' +
      '0000' +
      '0008' +
      '00004000' +
      '00004000' +
      '00004000' +
      'ffffffff' +
      '00000fff' +
      '00000008' +
      '80000000' +
      '0000000000200000',
  );
  assert.equal(b.length, 64);
  assert.deepEqual(decodeBlockLimits(b), d);
  const noUga = { ...d, wsnz: true };
  delete (noUga as { unmapGranularityAlignment?: number }).unmapGranularityAlignment;
  assert.deepEqual(decodeBlockLimits(encodeBlockLimits(0, noUga)), noUga);
});

test('Block Device Characteristics golden: non-rotating medium, WABEREQ 01b', () => {
  const d = {
    mediumRotationRate: 1,
    wabereq: 1,
    wacereq: 0,
    nominalFormFactor: 0,
    fuab: false,
    vbuls: false,
  };
  const b = encodeBlockDeviceCharacteristics(0, d);
  assert.equal(b.subarray(0, 9).toString('hex'), '00b1003c0001004000');
  assert.deepEqual(decodeBlockDeviceCharacteristics(b), d);
});

test('Logical Block Provisioning golden: LBPU LBPWS LBPWS10 LBPRZ, thin', () => {
  const d = {
    thresholdExponent: 0,
    lbpu: true,
    lbpws: true,
    lbpws10: true,
    lbprz: true,
    ancSup: false,
    provisioningType: 2,
  };
  const b = encodeLogicalBlockProvisioning(0, d);
  assert.equal(b.toString('hex'), '00b2000400e40200');
  assert.deepEqual(decodeLogicalBlockProvisioning(b), d);
});
