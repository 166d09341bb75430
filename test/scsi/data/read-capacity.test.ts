/** READ CAPACITY (10)/(16) parameter data (SBC-3 Tables 65, 67): golden bytes and round trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeReadCapacity10,
  decodeReadCapacity16,
  encodeReadCapacity10,
  encodeReadCapacity16,
} from '../../../src/scsi/data/read-capacity.js';

test('READ CAPACITY (10) golden; capacity past 32 bits reports FFFFFFFFh', () => {
  assert.equal(
    encodeReadCapacity10({ returnedLba: 0x1fffff, blockLength: 512 }).toString('hex'),
    '001fffff00000200',
  );
  assert.equal(
    encodeReadCapacity10({ returnedLba: 2 ** 33, blockLength: 4096 }).toString('hex'),
    'ffffffff00001000',
  );
  assert.deepEqual(decodeReadCapacity10(Buffer.from('001fffff00000200', 'hex')), {
    returnedLba: 0x1fffff,
    blockLength: 512,
  });
});

test('READ CAPACITY (16) golden: LBPME, LBPRZ, exponent 3', () => {
  const d = {
    returnedLba: 0x1_0000_0000n,
    blockLength: 512,
    protEn: false,
    pType: 0,
    lbppbe: 3,
    lbpme: true,
    lbprz: true,
    lowestAlignedLba: 0,
  };
  const b = encodeReadCapacity16(d);
  assert.equal(b.toString('hex'), '0000000100000000' + '00000200' + '00' + '03' + 'c000' + '00'.repeat(16));
  assert.deepEqual(decodeReadCapacity16(b), d);
  assert.throws(() => decodeReadCapacity16(Buffer.alloc(8)), /too short/);
});
