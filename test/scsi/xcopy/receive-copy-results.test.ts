/**
 * RECEIVE COPY RESULTS (SPC-4 §6.18): COPY STATUS per list identifier and per I_T nexus (in
 * progress while the copy runs, completed with or without errors after, nothing for LIST ID USAGE
 * 11b, INVALID FIELD IN CDB for an identifier the nexus does not hold), OPERATION IN PROGRESS for a
 * list identifier whose copy still runs, OPERATING PARAMETERS equal to the limits enforced, and
 * VPD page 8Fh agreeing with them.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { ASC, ScsiStatus, SenseKey } from '../../../src/scsi/index.js';
import {
  CopyAsc,
  CopyManagerStatus,
  CopyResultsAction,
  decodeCopyStatus,
  decodeOperatingParameters,
  decodeThirdPartyCopyPage,
  ListIdUsage,
  MAX_CSCD_DESCRIPTORS,
  MAX_DESCRIPTOR_LIST_LENGTH,
  MAX_SEGMENT_DESCRIPTORS,
  operatingParameters,
  thirdPartyCopyPage,
} from '../../../src/scsi/xcopy/index.js';
import { GatedDevice, settle } from '../gated-device.js';
import { checkCondition, clearUa, good, invalidField, MIB, ready } from '../helpers.js';
import { exec, rw16 } from '../caw/harness.js';
import { cscd, paramList, rcrCdb, segment, xcopyCdb } from './build.js';

test('COPY STATUS: unknown list, completed without and with errors, per nexus, not held for 11b', async () => {
  const f = await ready({ uuid: randomUUID() });
  invalidField(await exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 1)), 2);
  const list = paramList([cscd(f.lu)], [segment(0, 0, 2048, 0, 4096)], { listId: 1 });
  good(await exec(f, xcopyCdb(list.length), { dataOut: list }));
  const r = await exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 1));
  good(r);
  assert.deepEqual(decodeCopyStatus(r.dataIn!), {
    hdd: false,
    status: CopyManagerStatus.COMPLETED_WITHOUT_ERRORS,
    segmentsProcessed: 1,
    transferCountUnits: 0,
    transferCount: 2048 * 512,
  });
  // Another I_T nexus holds nothing under list identifier 1.
  invalidField(await exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 1), { nexus: f.b }), 2);
  // A copy aborted during planning is held as completed with errors.
  const bad = paramList([cscd(f.lu)], [segment(0, 0, 8, 0, f.lu.blocks)], { listId: 2 });
  checkCondition(
    await exec(f, xcopyCdb(bad.length), { dataOut: bad }),
    SenseKey.COPY_ABORTED,
    CopyAsc.COPY_TARGET_DEVICE_NOT_REACHABLE,
  );
  const s2 = decodeCopyStatus((await exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 2))).dataIn!);
  assert.equal(s2.status, CopyManagerStatus.COMPLETED_WITH_ERRORS);
  assert.equal(s2.segmentsProcessed, 0);
  // A list refused before processing (bad parameter list) holds nothing.
  const refused = paramList([cscd(f.lu)], [segment(0, 0, 8, 0, 0)], { listId: 3, usage: 1 });
  checkCondition(
    await exec(f, xcopyCdb(refused.length), { dataOut: refused }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
  );
  invalidField(await exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 3)), 2);
  // LIST ID USAGE 11b: nothing held.
  const none = paramList([cscd(f.lu)], [segment(0, 0, 8, 0, 0)], { listId: 0, usage: ListIdUsage.NONE });
  good(await exec(f, xcopyCdb(none.length), { dataOut: none }));
  invalidField(await exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 0)), 2);
  // The allocation length clips the data.
  const clipped = await exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 1, 4));
  assert.equal(clipped.dataIn!.length, 4);
});

test('a list identifier whose copy runs is OPERATION IN PROGRESS; its status is in progress', async () => {
  const dev = new GatedDevice(8 * MIB);
  dev.open();
  const f = await ready({ uuid: randomUUID() }, dev);
  // Data in the source, so the copy reads (a hole would be copied with writeZeroes).
  good(await exec(f, rw16(0x8a, 0, 64), { dataOut: Buffer.alloc(64 * 512, 1) }));
  dev.closed = true;
  const list = paramList([cscd(f.lu)], [segment(0, 0, 64, 0, 1000)], { listId: 7 });
  const running = exec(f, xcopyCdb(list.length), { dataOut: list });
  await settle();
  assert.ok(dev.waiting > 0, 'the copy is at the gate');
  const s = decodeCopyStatus((await exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 7))).dataIn!);
  assert.equal(s.status, CopyManagerStatus.IN_PROGRESS);
  checkCondition(
    await exec(f, xcopyCdb(list.length), { dataOut: list }),
    SenseKey.ILLEGAL_REQUEST,
    CopyAsc.OPERATION_IN_PROGRESS,
  );
  // Another nexus may use the same identifier.
  const other = exec(f, xcopyCdb(list.length), { dataOut: list, nexus: f.b });
  dev.open();
  good(await running);
  good(await other);
  const done = decodeCopyStatus((await exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 7))).dataIn!);
  assert.equal(done.status, CopyManagerStatus.COMPLETED_WITHOUT_ERRORS);
  // Completed: the identifier may be used again.
  good(await exec(f, xcopyCdb(list.length), { dataOut: list }));
});

test('OPERATING PARAMETERS: the limits EXTENDED COPY enforces', async () => {
  const f = await ready({ uuid: randomUUID() });
  const r = await exec(f, rcrCdb(CopyResultsAction.OPERATING_PARAMETERS, 0));
  good(r);
  const p = decodeOperatingParameters(r.dataIn!);
  assert.deepEqual(p, operatingParameters(f.lu));
  assert.equal(p.maxCscdDescriptorCount, MAX_CSCD_DESCRIPTORS);
  assert.equal(p.maxSegmentDescriptorCount, MAX_SEGMENT_DESCRIPTORS);
  assert.equal(p.maxDescriptorListLength, MAX_DESCRIPTOR_LIST_LENGTH);
  assert.ok(p.snlid);
  assert.deepEqual(p.implementedDescriptorTypeCodes, [0x02, 0xe4]);
  // A LIST IDENTIFIER byte is reserved for OPERATING PARAMETERS.
  invalidField(await exec(f, rcrCdb(CopyResultsAction.OPERATING_PARAMETERS, 1)), 2, 0);
});

test('VPD 8Fh agrees with OPERATING PARAMETERS and lists the commands offered', async () => {
  const f = await ready({ uuid: randomUUID() });
  const page = decodeThirdPartyCopyPage(thirdPartyCopyPage(f.lu));
  const p = operatingParameters(f.lu);
  const byKind = new Map(page.descriptors.map((d) => [d.kind, d]));
  assert.deepEqual(byKind.get('parameter-data'), {
    kind: 'parameter-data',
    maxCscdDescriptorCount: p.maxCscdDescriptorCount,
    maxSegmentDescriptorCount: p.maxSegmentDescriptorCount,
    maxDescriptorListLength: p.maxDescriptorListLength,
    maxInlineDataLength: p.maxInlineDataLength,
  });
  assert.deepEqual(byKind.get('supported-commands'), {
    kind: 'supported-commands',
    commands: [
      { opcode: 0x83, serviceActions: [0] },
      { opcode: 0x84, serviceActions: [0, 3] },
    ],
  });
  // Served by INQUIRY, with 3PC in the standard data and 8Fh in the supported pages.
  const std = await exec(f, Buffer.from([0x12, 0, 0, 0, 96, 0]));
  assert.ok(std.dataIn![5]! & 0x08, '3PC');
  const sup = await exec(f, Buffer.from([0x12, 1, 0, 0, 255, 0]));
  assert.ok([...sup.dataIn!.subarray(4)].includes(0x8f));
  const vpd = await exec(f, Buffer.from([0x12, 1, 0x8f, 0x04, 0, 0]));
  assert.equal(vpd.status, ScsiStatus.GOOD);
  assert.ok(vpd.dataIn!.equals(thirdPartyCopyPage(f.lu)));
  // RECEIVE DATA (01h) and FAILED SEGMENT DETAILS (04h) are not offered.
  invalidField(await exec(f, rcrCdb(1, 1)), 1, 4);
});

test('an aborted EXTENDED COPY stops between chunks and is held as completed with errors', async () => {
  const dev = new GatedDevice(64 * MIB);
  dev.open();
  const f = await ready({ uuid: randomUUID() }, dev);
  // 32 MiB of data (four 8 MiB copy chunks) to copy from LBA 0 to LBA 65536.
  good(await exec(f, rw16(0x8a, 0, 65536), { dataOut: Buffer.alloc(32 * MIB, 3) }));
  dev.closed = true;
  dev.log.length = 0;
  const list = paramList([cscd(f.lu)], [segment(0, 0, 65535, 0, 65536)], { listId: 9 });
  const running = exec(f, xcopyCdb(list.length), { dataOut: list, tag: 4242 });
  await settle();
  assert.ok(dev.waiting > 0, 'the copy is at the gate');
  const tmf = f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'abort-task', referencedTag: 4242 });
  await settle();
  dev.open();
  assert.equal(await tmf, 'function-complete');
  assert.equal((await running).status, ScsiStatus.TASK_ABORTED);
  // The chunk under way when the abort came is finished; no chunk starts after it.
  const writes = dev.log.filter((e) => e.startsWith('w')).map((e) => Number(e.slice(1)));
  assert.ok(writes.length > 0);
  assert.ok(Math.max(...writes) < 40 * MIB, `no write past the first chunk (${writes.map(String)})`);
  const s = decodeCopyStatus((await exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 9))).dataIn!);
  assert.equal(s.status, CopyManagerStatus.COMPLETED_WITH_ERRORS);
});

test('held copy results survive a logical unit reset and go with a target cold reset (a hard reset)', async () => {
  const f = await ready({ uuid: randomUUID() });
  const list = paramList([cscd(f.lu)], [segment(0, 0, 8, 0, 64)], { listId: 5 });
  good(await exec(f, xcopyCdb(list.length), { dataOut: list }));
  const status = () => exec(f, rcrCdb(CopyResultsAction.COPY_STATUS, 5));
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'logical-unit-reset' }),
    'function-complete',
  );
  await clearUa(f.target, f.a);
  good(await status());
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'target-cold-reset' }),
    'function-complete',
  );
  await clearUa(f.target, f.a);
  invalidField(await status(), 2);
});
