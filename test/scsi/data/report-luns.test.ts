/** REPORT LUNS data and LUN encoding (SPC-4 §6.33, SAM-5 §4.7): golden bytes and round trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeLun,
  decodeReportLuns,
  encodeLun,
  encodeReportLuns,
} from '../../../src/scsi/data/report-luns.js';

test('LUN encoding: peripheral below 256, flat space above (golden)', () => {
  assert.equal(encodeLun(5).toString('hex'), '0005000000000000');
  assert.equal(encodeLun(300).toString('hex'), '412c000000000000');
  assert.equal(decodeLun(Buffer.from('412c000000000000', 'hex')), 300);
  assert.throws(() => decodeLun(Buffer.from('8000000000000000', 'hex')), /addressing/);
  assert.throws(() => encodeLun(0x4000), /invalid LUN/);
});

test('REPORT LUNS data golden and round trip', () => {
  const b = encodeReportLuns([0, 1, 260]);
  assert.equal(
    b.toString('hex'),
    '00000018' + '00000000' + '0000000000000000' + '0001000000000000' + '4104000000000000',
  );
  assert.deepEqual(decodeReportLuns(b), [0, 1, 260]);
  assert.deepEqual(decodeReportLuns(b.subarray(0, 16)), [0]);
});
