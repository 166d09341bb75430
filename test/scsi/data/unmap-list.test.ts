/** UNMAP parameter list (SBC-3 §5.28.2): golden bytes, round trip, truncation rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeUnmapList, encodeUnmapList } from '../../../src/scsi/data/unmap-list.js';

test('one descriptor (golden) and round trip', () => {
  const b = encodeUnmapList([{ lba: 0x10n, blocks: 8 }]);
  assert.equal(
    b.toString('hex'),
    '0016' + '0010' + '00000000' + '0000000000000010' + '00000008' + '00000000',
  );
  assert.deepEqual(decodeUnmapList(b), [{ lba: 0x10n, blocks: 8 }]);
});

test('lengths larger than the data and partial descriptors are cut, short headers refused', () => {
  const b = encodeUnmapList([
    { lba: 1n, blocks: 1 },
    { lba: 2n, blocks: 2 },
  ]);
  assert.deepEqual(decodeUnmapList(b.subarray(0, 8 + 16 + 10)), [{ lba: 1n, blocks: 1 }]);
  const lying = Buffer.from(b);
  lying.writeUInt16BE(16, 2); // descriptor data length says one descriptor
  assert.equal(decodeUnmapList(lying).length, 1);
  assert.deepEqual(decodeUnmapList(encodeUnmapList([])), []);
  assert.throws(() => decodeUnmapList(Buffer.alloc(4)), /too short/);
});
