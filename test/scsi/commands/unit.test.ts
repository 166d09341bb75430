/** TEST UNIT READY, REQUEST SENSE, START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASC, decodeSense, SenseKey } from '../../../src/scsi/index.js';
import { checkCondition, good, invalidField, ready, run } from '../helpers.js';

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
  invalidField(await run(f.target, [0x1b, 0, 0, 0, 0x50, 0]), 4, 7);
  good(await run(f.target, [0, 0, 0, 0, 0, 0]));
});

test('PREVENT ALLOW MEDIUM REMOVAL is per nexus; an eject while prevented reports MEDIUM REMOVAL PREVENTED', async () => {
  const f = await ready();
  good(await run(f.target, [0x1e, 0, 0, 0, 1, 0], { nexus: f.a }));
  assert.equal(f.lu.removalPrevented, true);
  checkCondition(
    await run(f.target, [0x1b, 0, 0, 0, 0x02, 0], { nexus: f.b }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.MEDIUM_REMOVAL_PREVENTED,
  );
  invalidField(await run(f.target, [0x1e, 0, 0, 0, 2, 0]), 4, 1);
  f.target.nexusLost(f.a);
  assert.equal(f.lu.removalPrevented, false);
  good(await run(f.target, [0x1e, 0, 0, 0, 0, 0], { nexus: f.b }));
});
