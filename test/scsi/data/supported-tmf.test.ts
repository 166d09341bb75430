/** REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS data (SPC-4 §6.36.2): golden bytes and round trip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSupportedTmf, encodeSupportedTmf } from '../../../src/scsi/data/supported-tmf.js';

test('basic and extended formats (golden)', () => {
  const s = {
    abortTask: true,
    abortTaskSet: true,
    clearAca: false,
    clearTaskSet: true,
    luReset: true,
    queryTask: true,
    targetReset: true,
    wakeup: false,
    queryAsyncEvent: true,
    queryTaskSet: true,
    itNexusReset: false,
  };
  assert.equal(encodeSupportedTmf(s, false).toString('hex'), 'de060000');
  const ext = encodeSupportedTmf(s, true);
  assert.equal(ext.toString('hex'), 'de06000c' + '00'.repeat(12));
  assert.deepEqual(decodeSupportedTmf(ext), s);
});
