/**
 * ScsiTarget: task attributes, concurrency, task management (ABORT TASK, ABORT TASK SET, CLEAR
 * TASK SET, LOGICAL UNIT RESET, target resets, QUERY TASK/TASK SET/ASYNC EVENT), I_T nexus loss,
 * LUN map changes and the unit attentions each of them raises.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASC, LogicalUnit, ScsiStatus, ScsiTarget, SenseKey } from '../../src/scsi/index.js';
import { GatedDevice, settle } from './gated-device.js';
import {
  cdb10,
  checkCondition,
  clearUa,
  fixture,
  good,
  MIB,
  nexus,
  pattern,
  ready,
  run,
  TARGET,
  UUID,
} from './helpers.js';

async function gated() {
  const dev = new GatedDevice(16 * MIB);
  dev.open();
  const f = await ready({}, dev);
  dev.closed = true;
  return { ...f, dev };
}

test('SIMPLE tasks run concurrently; an ORDERED task waits for earlier ones and holds later ones', async () => {
  const f = await gated();
  const r1 = run(f.target, cdb10(0x28, 0, 1), { attribute: 'simple' });
  const r2 = run(f.target, cdb10(0x28, 8, 1), { attribute: 'simple' });
  await settle();
  assert.equal(f.dev.waiting, 2, 'both simple reads reached the device');
  const w = run(f.target, cdb10(0x2a, 16, 1), { attribute: 'ordered', dataOut: Buffer.alloc(512, 1) });
  const r3 = run(f.target, cdb10(0x28, 24, 1), { attribute: 'simple' });
  const hoq = run(f.target, cdb10(0x28, 32, 1), { attribute: 'head-of-queue' });
  await settle();
  assert.equal(f.dev.waiting, 3, 'the ordered write and the later simple read wait; head of queue runs');
  assert.deepEqual(f.dev.log, ['r0', 'r4096', 'r16384']);
  f.dev.step();
  f.dev.step();
  await settle();
  // r0 and r4096 done: now the ordered write runs; r3 still waits for it.
  assert.deepEqual(f.dev.log, ['r0', 'r4096', 'r16384', 'w8192']);
  f.dev.open();
  for (const r of await Promise.all([r1, r2, w, r3, hoq])) good(r);
  assert.deepEqual(f.dev.log, ['r0', 'r4096', 'r16384', 'w8192', 'r12288']);
});

test('many concurrent writes and reads from two nexuses keep their data', async () => {
  const f = await ready();
  const writes = Array.from({ length: 64 }, (_, i) =>
    run(f.target, cdb10(0x2a, i * 16, 16), { nexus: i % 2 ? f.a : f.b, dataOut: pattern(8192, i) }),
  );
  for (const r of await Promise.all(writes)) good(r);
  const reads = await Promise.all(
    Array.from({ length: 64 }, (_, i) =>
      run(f.target, cdb10(0x28, i * 16, 16), { nexus: i % 2 ? f.b : f.a }),
    ),
  );
  reads.forEach((r, i) => assert.deepEqual(r.dataIn, pattern(8192, i)));
});

test('ABORT TASK: a running task finishes its I/O, then answers TASK ABORTED; QUERY TASK sees it', async () => {
  const f = await gated();
  const w = run(f.target, cdb10(0x2a, 0, 1), { tag: 77, dataOut: Buffer.alloc(512, 9), nexus: f.a });
  await settle();
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'query-task', referencedTag: 77 }),
    'function-succeeded',
  );
  assert.equal(
    await f.target.taskManagement({ nexus: f.b, lun: 0, fn: 'query-task', referencedTag: 77 }),
    'function-complete',
  );
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'query-task-set' }),
    'function-succeeded',
  );
  let tmfDone = false;
  const tmf = f.target
    .taskManagement({ nexus: f.a, lun: 0, fn: 'abort-task', referencedTag: 77 })
    .then((x) => {
      tmfDone = true;
      return x;
    });
  await settle();
  assert.equal(tmfDone, false, 'the TMF waits for the I/O');
  f.dev.open();
  assert.equal(await tmf, 'function-complete');
  const res = await w;
  assert.equal(res.status, ScsiStatus.TASK_ABORTED);
  assert.equal(res.aborted, true);
  assert.equal(res.transferLength, 512);
  // The I/O did complete.
  assert.equal((await run(f.target, cdb10(0x28, 0, 1), { nexus: f.a })).dataIn![0], 9);
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'abort-task', referencedTag: 12345 }),
    'function-complete',
  );
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'query-task-set' }),
    'function-complete',
  );
});

test('an aborted task that had not started never touches the device', async () => {
  const f = await gated();
  const first = run(f.target, cdb10(0x28, 0, 1), { attribute: 'ordered', nexus: f.a });
  const second = run(f.target, cdb10(0x2a, 8, 1), { tag: 5, dataOut: Buffer.alloc(512, 1), nexus: f.a });
  await settle();
  assert.deepEqual(f.dev.log, ['r0']);
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'abort-task', referencedTag: 5 }),
    'function-complete',
  );
  assert.equal((await second).status, ScsiStatus.TASK_ABORTED);
  f.dev.open();
  good(await first);
  assert.deepEqual(f.dev.log, ['r0']);
});

test('ABORT TASK SET aborts only the caller’s tasks', async () => {
  const f = await gated();
  const mine = run(f.target, cdb10(0x28, 0, 1), { nexus: f.a });
  const theirs = run(f.target, cdb10(0x28, 8, 1), { nexus: f.b });
  await settle();
  const tmf = f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'abort-task-set' });
  f.dev.open();
  assert.equal(await tmf, 'function-complete');
  assert.equal((await mine).status, ScsiStatus.TASK_ABORTED);
  good(await theirs);
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }));
});

test('CLEAR TASK SET aborts every task and tells the other nexus COMMANDS CLEARED BY ANOTHER INITIATOR', async () => {
  const f = await gated();
  const mine = run(f.target, cdb10(0x28, 0, 1), { nexus: f.a });
  const theirs = run(f.target, cdb10(0x28, 8, 1), { nexus: f.b });
  await settle();
  const tmf = f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'clear-task-set' });
  f.dev.open();
  assert.equal(await tmf, 'function-complete');
  assert.equal((await mine).status, ScsiStatus.TASK_ABORTED);
  assert.equal((await theirs).status, ScsiStatus.TASK_ABORTED);
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }));
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }),
    SenseKey.UNIT_ATTENTION,
    ASC.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR,
  );
  assert.equal(await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'clear-aca' }), 'function-rejected');
});

test('LOGICAL UNIT RESET and target resets: tasks aborted, reset unit attention on every nexus', async () => {
  const f = await gated();
  const t = run(f.target, cdb10(0x28, 0, 1), { nexus: f.b });
  await settle();
  const tmf = f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'logical-unit-reset' });
  f.dev.open();
  assert.equal(await tmf, 'function-complete');
  assert.equal((await t).status, ScsiStatus.TASK_ABORTED);
  for (const n of [f.a, f.b]) {
    checkCondition(
      await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: n }),
      SenseKey.UNIT_ATTENTION,
      ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED,
    );
    good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: n }));
  }
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'target-cold-reset' }),
    'function-complete',
  );
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }),
    SenseKey.UNIT_ATTENTION,
    ASC.POWER_ON_OCCURRED,
  );
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 9, fn: 'target-warm-reset' }),
    'function-complete',
  );
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }),
    SenseKey.UNIT_ATTENTION,
    ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED,
  );
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 9, fn: 'logical-unit-reset' }),
    'incorrect-lun',
  );
});

test('QUERY ASYNC EVENT reports a pending unit attention', async () => {
  const f = await ready();
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'query-async-event' }),
    'function-complete',
  );
  f.lu.notifyCapacityChanged();
  assert.equal(
    await f.target.taskManagement({ nexus: f.a, lun: 0, fn: 'query-async-event' }),
    'function-succeeded',
  );
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }),
    SenseKey.UNIT_ATTENTION,
    ASC.CAPACITY_DATA_HAS_CHANGED,
  );
});

test('I_T nexus loss aborts the nexus’s tasks; the same initiator port then sees I_T NEXUS LOSS OCCURRED', async () => {
  const f = await gated();
  const t = run(f.target, cdb10(0x28, 0, 1), { nexus: f.a });
  const other = run(f.target, cdb10(0x28, 8, 1), { nexus: f.b });
  await settle();
  f.target.nexusLost(f.a);
  f.dev.open();
  const r = await t;
  assert.equal(r.status, ScsiStatus.TASK_ABORTED);
  assert.equal(r.aborted, true);
  good(await other);
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }),
    SenseKey.UNIT_ATTENTION,
    ASC.I_T_NEXUS_LOSS_OCCURRED,
  );
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }));
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }));
});

test('addLun/removeLun raise REPORTED LUNS DATA HAS CHANGED; REPORT LUNS clears it (LUICLR)', async () => {
  const f = await ready();
  const other = new LogicalUnit(new GatedDevice(MIB), { uuid: '00000000-0000-4000-8000-000000000002' });
  f.target.addLun(1, other);
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }),
    SenseKey.UNIT_ATTENTION,
    ASC.REPORTED_LUNS_DATA_HAS_CHANGED,
  );
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }));
  // REPORT LUNS is not failed by the unit attention and clears it.
  good(await run(f.target, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], { nexus: f.b }));
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }));
  f.target.removeLun(1);
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }),
    SenseKey.UNIT_ATTENTION,
    ASC.REPORTED_LUNS_DATA_HAS_CHANGED,
  );
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a, lun: 1 }),
    SenseKey.ILLEGAL_REQUEST,
    ASC.LOGICAL_UNIT_NOT_SUPPORTED,
  );
  assert.throws(() => f.target.addLun(0, other), /already mapped/);
  assert.throws(() => f.target.addLun(-1, other), /invalid LUN/);
});

test('one LU shared by two targets: one task set and one state', async () => {
  const dev = new GatedDevice(16 * MIB);
  dev.open();
  const lu = new LogicalUnit(dev, { uuid: UUID });
  const t1 = new ScsiTarget(TARGET);
  const t2 = new ScsiTarget('iqn.2026-11.io.vdisk:second');
  t1.addLun(0, lu);
  t2.addLun(7, lu);
  const n1 = nexus(1);
  const n2 = nexus(1, 'iqn.2026-11.io.vdisk:second');
  await clearUa(t1, n1);
  await clearUa(t2, n2, 7);
  good(await run(t1, cdb10(0x2a, 0, 1), { nexus: n1, dataOut: Buffer.alloc(512, 4) }));
  assert.equal((await run(t2, cdb10(0x28, 0, 1), { nexus: n2, lun: 7 })).dataIn![0], 4);
  dev.closed = true;
  const t = run(t2, cdb10(0x28, 0, 1), { nexus: n2, lun: 7 });
  await settle();
  const tmf = t1.taskManagement({ nexus: n1, lun: 0, fn: 'clear-task-set' });
  dev.open();
  await tmf;
  assert.equal((await t).status, ScsiStatus.TASK_ABORTED);
  checkCondition(
    await run(t2, [0, 0, 0, 0, 0, 0], { nexus: n2, lun: 7 }),
    SenseKey.UNIT_ATTENTION,
    ASC.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR,
  );
});

test('a unit attention queue keeps each condition once, and a reset replaces it', async () => {
  const f = fixture();
  const s = f.lu.nexusState(f.a);
  s.ua.add(ASC.CAPACITY_DATA_HAS_CHANGED);
  s.ua.add(ASC.CAPACITY_DATA_HAS_CHANGED);
  assert.deepEqual([...s.ua.list()], [ASC.POWER_ON_RESET_OR_BUS_DEVICE_RESET, ASC.CAPACITY_DATA_HAS_CHANGED]);
  s.ua.add(ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
  assert.deepEqual([...s.ua.list()], [ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED]);
});

test('a command reusing the tag of a task in flight: OVERLAPPED COMMANDS ATTEMPTED, and the nexus’s tasks abort', async () => {
  const f = await gated();
  const first = run(f.target, cdb10(0x28, 0, 1), { nexus: f.a, tag: 9 });
  const other = run(f.target, cdb10(0x28, 8, 1), { nexus: f.a, tag: 10 });
  const theirs = run(f.target, cdb10(0x28, 16, 1), { nexus: f.b, tag: 9 });
  await settle();
  const dup = run(f.target, cdb10(0x28, 24, 1), { nexus: f.a, tag: 9 });
  await settle();
  f.dev.open();
  checkCondition(await dup, SenseKey.ABORTED_COMMAND, ASC.OVERLAPPED_COMMANDS_ATTEMPTED);
  assert.equal((await first).status, ScsiStatus.TASK_ABORTED);
  assert.equal((await other).status, ScsiStatus.TASK_ABORTED);
  good(await theirs);
});

test('after nexus loss, the same initiator port may reuse a tag whose aborted task is still finishing', async () => {
  const f = await gated();
  const old = run(f.target, cdb10(0x28, 0, 1), { nexus: f.a, tag: 3 });
  await settle();
  f.target.nexusLost(f.a);
  const again = run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a, tag: 3 });
  await settle();
  f.dev.open();
  assert.equal((await old).status, ScsiStatus.TASK_ABORTED);
  checkCondition(await again, SenseKey.UNIT_ATTENTION, ASC.I_T_NEXUS_LOSS_OCCURRED);
});

test('a lost nexus collects no unit attentions while away; it returns to I_T NEXUS LOSS OCCURRED alone', async () => {
  const f = await ready();
  f.target.nexusLost(f.a);
  await f.target.taskManagement({ nexus: f.b, lun: 0, fn: 'logical-unit-reset' });
  f.lu.notifyCapacityChanged();
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }),
    SenseKey.UNIT_ATTENTION,
    ASC.I_T_NEXUS_LOSS_OCCURRED,
  );
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.a }));
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }),
    SenseKey.UNIT_ATTENTION,
    ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED,
  );
  checkCondition(
    await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }),
    SenseKey.UNIT_ATTENTION,
    ASC.CAPACITY_DATA_HAS_CHANGED,
  );
  good(await run(f.target, [0, 0, 0, 0, 0, 0], { nexus: f.b }));
});
