/** VPD page header (SPC-4 §7.8.1) and the Supported VPD Pages and Unit Serial Number pages. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeVpdPage, encodeVpdPage } from '../../../src/scsi/vpd/page.js';
import { decodeSupportedVpdPages, encodeSupportedVpdPages } from '../../../src/scsi/vpd/supported-pages.js';
import { decodeUnitSerial, encodeUnitSerial } from '../../../src/scsi/vpd/unit-serial.js';

test('header golden; wrong page and truncation refused', () => {
  const b = encodeVpdPage(0x00, 0xb1, Buffer.from([1, 2]));
  assert.equal(b.toString('hex'), '00b100020102');
  assert.deepEqual(decodeVpdPage(b, 0xb1).header, { peripheral: 0, pageCode: 0xb1, pageLength: 2 });
  assert.throws(() => decodeVpdPage(b, 0xb0), /expected VPD page/);
  assert.throws(() => decodeVpdPage(b.subarray(0, 5), 0xb1), /truncated/);
});

test('Supported VPD Pages golden (sorted) and round trip', () => {
  const b = encodeSupportedVpdPages(0, [0x83, 0x00, 0x80]);
  assert.equal(b.toString('hex'), '00000003008083');
  assert.deepEqual(decodeSupportedVpdPages(b), [0, 0x80, 0x83]);
});

test('Unit Serial Number golden and round trip', () => {
  const b = encodeUnitSerial(0, 'abc123');
  assert.equal(b.toString('hex'), '00800006' + Buffer.from('abc123').toString('hex'));
  assert.equal(decodeUnitSerial(b), 'abc123');
  assert.throws(() => encodeUnitSerial(0, 'é'), /ASCII/);
});
