/** READ DEFECT DATA headers (SBC-3 Tables 77 and 80): golden bytes and round trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeDefectHeader, encodeDefectHeader } from '../../../src/scsi/data/defect-data.js';

test('(10) and (12) headers golden', () => {
  const h = { plistv: true, glistv: true, format: 4, listLength: 0 };
  assert.equal(encodeDefectHeader(10, h).toString('hex'), '001c0000');
  assert.equal(encodeDefectHeader(12, { ...h, listLength: 8 }).toString('hex'), '001c000000000008');
  assert.deepEqual(decodeDefectHeader(10, encodeDefectHeader(10, h)), h);
  assert.deepEqual(decodeDefectHeader(12, encodeDefectHeader(12, { ...h, listLength: 8 })), {
    ...h,
    listLength: 8,
  });
  assert.throws(() => decodeDefectHeader(12, Buffer.alloc(4)), /truncated/);
});
