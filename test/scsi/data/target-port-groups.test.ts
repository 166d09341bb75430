/** REPORT TARGET PORT GROUPS data (SPC-4 §6.37.2): golden bytes and round trips, both headers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRtpgCdb, encodeRtpgCdb } from '../../../src/scsi/cdb/report-cdb.js';
import { decodeTargetPortGroups, encodeTargetPortGroups } from '../../../src/scsi/data/target-port-groups.js';

const groups = [
  { pref: false, state: 0, supported: 0x01, group: 1, statusCode: 0, ports: [1, 2] },
  { pref: true, state: 1, supported: 0x03, group: 7, statusCode: 2, ports: [9] },
];

test('length-only header (golden) and round trip', () => {
  const b = encodeTargetPortGroups(groups, false);
  assert.equal(
    b.toString('hex'),
    '0000001c' + '00010001' + '00000002' + '00000001' + '00000002' + '81030007' + '00020001' + '00000009',
  );
  assert.deepEqual(decodeTargetPortGroups(b), { extended: false, groups });
});

test('extended header (golden) and round trip; truncation refused', () => {
  const b = encodeTargetPortGroups(groups.slice(0, 1), true);
  assert.equal(
    b.toString('hex'),
    '00000014' + '10000000' + '00010001' + '00000002' + '00000001' + '00000002',
  );
  assert.deepEqual(decodeTargetPortGroups(b), { extended: true, groups: groups.slice(0, 1) });
  const cut = Buffer.from(b);
  cut[15] = 5;
  assert.throws(() => decodeTargetPortGroups(cut), /truncated/);
});

test('REPORT TARGET PORT GROUPS CDB golden and round trip', () => {
  const cdb = Buffer.from('a32a00000000000010000000', 'hex');
  assert.deepEqual(decodeRtpgCdb(cdb), { parameterDataFormat: 1, allocationLength: 0x1000 });
  assert.deepEqual(encodeRtpgCdb(decodeRtpgCdb(cdb)), cdb);
});
