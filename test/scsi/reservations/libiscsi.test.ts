/**
 * A real peer: libiscsi's iscsi-test-cu runs its persistent reservation and RESERVE6 families
 * (Prin*, Prout*, Reserve6*, with two initiator names) against an in-process iSCSI target whose
 * logical unit has the engine attached. Every test must pass, none may skip: CUnit counts a
 * skipped test as passed, so "[SKIPPED]" lines in the verbose output fail this test too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/block/index.js';
import { LogicalUnit, ScsiTarget } from '../../../src/scsi/index.js';
import { PersistentReservations } from '../../../src/scsi/reservations/index.js';
import { run, serveIscsi, skipWithout, TARGET } from '../../iscsi/helpers.js';
import { UUID } from './harness.js';

const FAMILIES = [
  'ALL.PrinReadKeys',
  'ALL.PrinServiceactionRange',
  'ALL.PrinReportCapabilities',
  'ALL.Prout*',
  'ALL.Reserve6',
];

test('iscsi-test-cu: persistent reservation and RESERVE6 families all pass', async (t) => {
  const skip = await skipWithout('iscsi-test-cu');
  if (skip) return t.skip(skip);
  const lu = new LogicalUnit(new MemoryDevice(16 * 1024 * 1024), { uuid: UUID });
  const pr = new PersistentReservations({ uuid: UUID });
  await pr.start();
  lu.reservations = pr;
  const target = new ScsiTarget(TARGET);
  target.addLun(0, lu);
  const { port } = await serveIscsi({ router: target as never });
  const url = `iscsi://127.0.0.1:${port}/${TARGET}/0`;
  const r = await run(
    'iscsi-test-cu',
    [
      '--dataloss',
      '-V',
      '-i',
      'iqn.2026-11.io.vdisk:pr-initiator-1',
      '-I',
      'iqn.2026-11.io.vdisk:pr-initiator-2',
      '-t',
      FAMILIES.join(','),
      url,
    ],
    120_000,
  );
  const out = r.stdout + r.stderr;
  const summary = /tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(out);
  assert.ok(summary, `no CUnit summary in:\n${out.slice(-2000)}`);
  const [, total, ran, passed, failed] = summary.map(Number);
  const failures = out.split('\n').filter((l) => l.includes('[FAILED]') || /FAILED$/.test(l.trim()));
  assert.equal(failed, 0, failures.join('\n'));
  assert.equal(passed, ran);
  assert.equal(ran, total);
  assert.ok(total! >= 27, `only ${total} tests ran`);
  assert.deepEqual(
    out.split('\n').filter((l) => l.includes('[SKIPPED]')),
    [],
  );
});
