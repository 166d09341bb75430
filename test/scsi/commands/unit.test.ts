/** TEST UNIT READY, REQUEST SENSE, START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASC, decodeSense, SenseKey } from '../../../src/scsi/index.js';
import { checkCondition, clearUa, good, invalidField, ready, run } from '../helpers.js';

test('REQUEST SENSE: allocation length clips, NO SENSE when nothing is pending', async () => {
  const f = await ready();
  const r = await run(f.target, [0x03, 0, 0, 0, 8, 0]);
  good(r);
  assert.equal(r.dataIn!.length, 8);
  assert.equal(r.dataIn![0], 0x70);
  const full = await run(f.target, [0x03, 0, 0, 0, 252, 0]);
  assert.deepEqual(decodeSense(full.dataIn!), { format: 'fixed', current: true, key: 0, asc: 0 });
  invalidField(await run(f.target, [0x03, 2, 0, 0, 252, 0]), 1, 1);
});

test('START STOP UNIT: LOEJ refused on the non-removable LU, power conditions accepted', async () => {
  const f = await ready();
  invalidField(await run(f.target, [0x1b, 1, 0, 0, 0x02, 0]), 4, 1);
  invalidField(await run(f.target, [0x1b, 0, 0, 0, 0x03, 0]), 4, 1);
  good(await run(f.target, [0x1b, 0, 0, 0, 0x00, 0]));
  good(await run(f.target, [0x1b, 1, 0, 0, 0x01, 0]));
  good(await run(f.target, [0x1b, 0, 0, 0, 0x04 | 0x01, 0]));
  good(await run(f.target, [0x1b, 0, 0, 0, 0x30, 0]));
  good(await run(f.target, [0x1b, 0, 0, 0, 0x32, 0])); // LOEJ ignored with a power condition
  good(await run(f.target, [0x1b, 0, 0, 0, 0x50, 0]));
  good(await run(f.target, [0x1b, 0, 0, 0, 0xf2, 0])); // LOEJ ignored with a power condition
  good(await run(f.target, [0, 0, 0, 0, 0, 0]));
});

test('PREVENT ALLOW MEDIUM REMOVAL is per nexus and cleared by nexus loss', async () => {
  const f = await ready();
  good(await run(f.target, [0x1e, 0, 0, 0, 1, 0], { nexus: f.a }));
  assert.equal(f.lu.removalPrevented, true);
  // Not removable: the eject is refused as such, prevented or not.
  invalidField(await run(f.target, [0x1b, 0, 0, 0, 0x02, 0], { nexus: f.b }), 4, 1);
  invalidField(await run(f.target, [0x1e, 0, 0, 0, 2, 0]), 4, 1);
  f.target.nexusLost(f.a);
  assert.equal(f.lu.removalPrevented, false);
  good(await run(f.target, [0x1e, 0, 0, 0, 0, 0], { nexus: f.b }));
});

test('removable LU: eject and load, MEDIUM NOT PRESENT without a medium, PREVENT holds it in', async () => {
  const f = await ready({ removable: true });
  assert.equal((await run(f.target, [0x12, 0, 0, 0, 96, 0])).dataIn![1], 0x80, 'RMB');
  // Eject.
  good(await run(f.target, [0x1b, 1, 0, 0, 0x02, 0], { nexus: f.a }));
  assert.equal(f.lu.mediumLoaded, false);
  for (const cdb of [
    [0, 0, 0, 0, 0, 0],
    [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0],
    [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  ]) {
    checkCondition(await run(f.target, cdb, { nexus: f.a }), SenseKey.NOT_READY, ASC.MEDIUM_NOT_PRESENT);
  }
  checkCondition(
    await run(f.target, [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], { nexus: f.a, dataOut: Buffer.alloc(512) }),
    SenseKey.NOT_READY,
    ASC.MEDIUM_NOT_PRESENT,
  );
  good(await run(f.target, [0x12, 0, 0, 0, 96, 0], { nexus: f.a }));
  good(await run(f.target, [0x1a, 0, 0x3f, 0, 255, 0], { nexus: f.a }));
  // Eject again while ejected: nothing to do.
  good(await run(f.target, [0x1b, 0, 0, 0, 0x02, 0], { nexus: f.a }));
  // PREVENT (from the other nexus) keeps it out, then in.
  good(await run(f.target, [0x1e, 0, 0, 0, 1, 0], { nexus: f.b }));
  checkCondition(
    await run(f.target, [0x1b, 0, 0, 0, 0x03, 0], { nexus: f.a }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.MEDIUM_REMOVAL_PREVENTED,
  );
  good(await run(f.target, [0x1e, 0, 0, 0, 0, 0], { nexus: f.b }));
  good(await run(f.target, [0x1b, 0, 0, 0, 0x03, 0], { nexus: f.a }));
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }));
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }));
  good(await run(f.target, [0x1e, 0, 0, 0, 1, 0], { nexus: f.a }));
  checkCondition(
    await run(f.target, [0x1b, 0, 0, 0, 0x02, 0], { nexus: f.a }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.MEDIUM_REMOVAL_PREVENTED,
  );
  // A target warm reset clears every prevention.
  await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'target-warm-reset' });
  await clearUa(f.target, f.a);
  good(await run(f.target, [0x1b, 0, 0, 0, 0x02, 0], { nexus: f.a }));
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }),
    SenseKey.NOT_READY,
    ASC.MEDIUM_NOT_PRESENT,
  );
});
