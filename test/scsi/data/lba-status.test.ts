/** GET LBA STATUS data (SBC-3 §5.5.2): golden bytes and round trip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeLbaStatus, encodeLbaStatus, LbaStatusKind } from '../../../src/scsi/data/lba-status.js';

test('two descriptors (golden) and round trip', () => {
  const ds = [
    { lba: 0n, blocks: 128, status: LbaStatusKind.MAPPED },
    { lba: 128n, blocks: 0x1000, status: LbaStatusKind.DEALLOCATED },
  ];
  const b = encodeLbaStatus(ds);
  assert.equal(
    b.toString('hex'),
    '00000024' +
      '00000000' +
      '0000000000000000' +
      '00000080' +
      '00000000' +
      '0000000000000080' +
      '00001000' +
      '01000000',
  );
  assert.deepEqual(decodeLbaStatus(b), ds);
  assert.deepEqual(decodeLbaStatus(b.subarray(0, 30)), [ds[0]]);
});
