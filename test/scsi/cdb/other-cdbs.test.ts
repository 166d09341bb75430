/** CDB codecs of the reporting, unit and provisioning commands: golden bytes and round trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeSanitizeCdb,
  decodeUnmapCdb,
  encodeSanitizeCdb,
  encodeUnmapCdb,
} from '../../../src/scsi/cdb/provisioning-cdb.js';
import {
  decodeReportLunsCdb,
  decodeRsocCdb,
  decodeRstmfCdb,
  encodeReportLunsCdb,
  encodeRsocCdb,
  encodeRstmfCdb,
} from '../../../src/scsi/cdb/report-cdb.js';
import {
  decodePreventAllowCdb,
  decodeRequestSenseCdb,
  decodeStartStopUnitCdb,
  encodePreventAllowCdb,
  encodeRequestSenseCdb,
  encodeStartStopUnitCdb,
} from '../../../src/scsi/cdb/unit-cdb.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('REPORT LUNS, RSOC and RSTMF golden and round trip', () => {
  const rl = hex('a0 00 02 000000 00001000 00 00');
  assert.deepEqual(decodeReportLunsCdb(rl), { selectReport: 2, allocationLength: 0x1000 });
  assert.deepEqual(encodeReportLunsCdb(decodeReportLunsCdb(rl)), rl);
  const rsoc = hex('a3 0c 82 9e 0010 0000ffff 00 00');
  assert.deepEqual(decodeRsocCdb(rsoc), {
    rctd: true,
    reportingOptions: 2,
    requestedOpcode: 0x9e,
    requestedServiceAction: 0x10,
    allocationLength: 0xffff,
  });
  assert.deepEqual(encodeRsocCdb(decodeRsocCdb(rsoc)), rsoc);
  const tmf = hex('a3 0d 80 000000 00000010 00 00');
  assert.deepEqual(decodeRstmfCdb(tmf), { repd: true, allocationLength: 16 });
  assert.deepEqual(encodeRstmfCdb(decodeRstmfCdb(tmf)), tmf);
});

test('REQUEST SENSE, START STOP UNIT and PREVENT ALLOW golden and round trip', () => {
  const rs = hex('03 01 0000 fc 00');
  assert.deepEqual(decodeRequestSenseCdb(rs), { desc: true, allocationLength: 252 });
  assert.deepEqual(encodeRequestSenseCdb(decodeRequestSenseCdb(rs)), rs);
  const ssu = hex('1b 01 00 02 37 00');
  assert.deepEqual(decodeStartStopUnitCdb(ssu), {
    immed: true,
    powerConditionModifier: 2,
    powerCondition: 3,
    noFlush: true,
    loej: true,
    start: true,
  });
  assert.deepEqual(encodeStartStopUnitCdb(decodeStartStopUnitCdb(ssu)), ssu);
  const pa = hex('1e 000000 01 00');
  assert.deepEqual(decodePreventAllowCdb(pa), { prevent: 1 });
  assert.deepEqual(encodePreventAllowCdb({ prevent: 1 }), pa);
});

test('UNMAP and SANITIZE golden and round trip', () => {
  const u = hex('42 01 00000000 05 0018 00');
  assert.deepEqual(decodeUnmapCdb(u), { anchor: true, group: 5, parameterListLength: 0x18 });
  assert.deepEqual(encodeUnmapCdb(decodeUnmapCdb(u)), u);
  const s = hex('48 a2 0000000000 0000 00');
  assert.deepEqual(decodeSanitizeCdb(s), {
    immed: true,
    ause: true,
    serviceAction: 2,
    parameterListLength: 0,
  });
  assert.deepEqual(encodeSanitizeCdb(decodeSanitizeCdb(s)), s);
});
