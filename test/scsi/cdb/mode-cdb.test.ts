/** MODE SENSE / MODE SELECT CDBs (SPC-4 §6.9-§6.12): golden bytes and round trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeModeSelectCdb,
  decodeModeSenseCdb,
  encodeModeSelectCdb,
  encodeModeSenseCdb,
} from '../../../src/scsi/cdb/mode-cdb.js';

test('MODE SENSE (6): DBD, PC changeable, page 08h, 255 bytes (golden)', () => {
  const b = Buffer.from('1a0848 00ff00'.replace(/ /g, ''), 'hex');
  const c = decodeModeSenseCdb(b);
  assert.deepEqual(c, {
    size: 6,
    dbd: true,
    llbaa: false,
    pc: 1,
    pageCode: 8,
    subpageCode: 0,
    allocationLength: 255,
  });
  assert.deepEqual(encodeModeSenseCdb(c), b);
});

test('MODE SENSE (10): LLBAA, all pages, subpage FFh', () => {
  const b = Buffer.from('5a103fff000000100000', 'hex');
  const c = decodeModeSenseCdb(b);
  assert.deepEqual(c, {
    size: 10,
    dbd: false,
    llbaa: true,
    pc: 0,
    pageCode: 0x3f,
    subpageCode: 0xff,
    allocationLength: 0x1000,
  });
  assert.deepEqual(encodeModeSenseCdb(c), b);
});

test('MODE SELECT (6)/(10): PF, SP, parameter list length', () => {
  const s6 = Buffer.from('151000001c00', 'hex');
  assert.deepEqual(decodeModeSelectCdb(s6), { size: 6, pf: true, sp: false, parameterListLength: 0x1c });
  assert.deepEqual(encodeModeSelectCdb(decodeModeSelectCdb(s6)), s6);
  const s10 = Buffer.from('55110000000000002000', 'hex');
  assert.deepEqual(decodeModeSelectCdb(s10), { size: 10, pf: true, sp: true, parameterListLength: 0x20 });
  assert.deepEqual(encodeModeSelectCdb(decodeModeSelectCdb(s10)), s10);
});
