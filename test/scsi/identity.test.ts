/** Logical unit identity from the volume UUID (identity.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { luIdentity, uuidBytes, VDISK_COMPANY_ID } from '../../src/scsi/identity.js';

test('serial and NAA 6h designator derive from the UUID alone', () => {
  const a = luIdentity('6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B');
  const b = luIdentity('6f1c2a3b4d5e4f608a7b9c0d1e2f3a4b');
  assert.equal(a.serial, '6f1c2a3b4d5e4f608a7b9c0d1e2f3a4b');
  assert.deepEqual(a, b);
  assert.equal(a.naa.length, 16);
  assert.equal(a.naa[0]! >> 4, 6, 'NAA 6h');
  const companyId = ((a.naa[0]! & 0x0f) << 20) | (a.naa[1]! << 12) | (a.naa[2]! << 4) | (a.naa[3]! >> 4);
  assert.equal(companyId, VDISK_COMPANY_ID);
  assert.notDeepEqual(luIdentity('00000000-0000-4000-8000-000000000001').naa, a.naa);
});

test('an invalid UUID is refused', () => {
  assert.throws(() => uuidBytes('not-a-uuid'), /invalid UUID/);
});
