/**
 * Operator scenarios: a Windows Failover Cluster validation-like sequence, fence_scsi fencing and
 * unfencing (PREEMPT AND ABORT with a write in flight), registrations from many I_T nexuses at
 * once, and unit attentions reaching every I_T nexus of a preempted ALL_TG_PT registration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryReservationStore, PR_ASC, type PrState } from '../../../src/scsi/reservations/index.js';
import { ScsiTarget, type ItNexus } from '../../../src/scsi/index.js';
import { GatedDevice, settle as drain } from '../gated-device.js';
import {
  block,
  conflict,
  fullStatus,
  good,
  nx,
  prFixture,
  prout,
  read10,
  readKeys,
  readReservation,
  register,
  SA,
  ScsiStatus,
  settle,
  TYPE,
  uas,
  write10,
  type PrFixture,
} from './harness.js';

/** What READ FULL STATUS says, in a form a person checks: [initiator, key, holder, type]. */
async function status(f: PrFixture) {
  return (await fullStatus(f, nx('any'))).descriptors.map((d) => [
    d.transportId.name.split(':')[1],
    d.key,
    d.holder,
    d.reservation?.type ?? '-',
  ]);
}

test('Windows Failover Cluster validation: register x3, reserve WE_RO, preempt, conflict, restart', async () => {
  const store = new MemoryReservationStore();
  const f = await prFixture({ store });
  const [vm101, vm102, vm103] = [nx('vm101'), nx('vm102'), nx('vm103')];
  await settle(f, vm101, vm102, vm103);
  const keys = { vm101: 0x1010n, vm102: 0x1020n, vm103: 0x1030n };
  good(await register(f, vm101, keys.vm101, { aptpl: true }));
  good(await register(f, vm102, keys.vm102, { aptpl: true }));
  good(await register(f, vm103, keys.vm103, { aptpl: true }));
  assert.deepEqual(await status(f), [
    ['vm101', keys.vm101, false, '-'],
    ['vm102', keys.vm102, false, '-'],
    ['vm103', keys.vm103, false, '-'],
  ]);
  good(await prout(f, vm101, SA.RESERVE, { key: keys.vm101, type: TYPE.WE_RO }));
  assert.deepEqual(await status(f), [
    ['vm101', keys.vm101, true, 'WE_RO'],
    ['vm102', keys.vm102, false, '-'],
    ['vm103', keys.vm103, false, '-'],
  ]);
  // Every registrant may write under Registrants Only.
  for (const n of [vm101, vm102, vm103]) good(await f.exec(n, write10, block));
  // vm102 takes the disk over.
  good(await prout(f, vm102, SA.PREEMPT, { key: keys.vm102, sark: keys.vm101, type: TYPE.WE_RO }));
  assert.deepEqual(await status(f), [
    ['vm102', keys.vm102, true, 'WE_RO'],
    ['vm103', keys.vm103, false, '-'],
  ]);
  assert.deepEqual(uas(f, vm101), [PR_ASC.REGISTRATIONS_PREEMPTED]);
  await settle(f, vm101);
  conflict(await f.exec(vm101, write10, block));
  good(await f.exec(vm101, read10)); // reads pass a Write Exclusive type
  good(await f.exec(vm103, write10, block));
  conflict(await prout(f, vm101, SA.RESERVE, { key: keys.vm101, type: TYPE.WE_RO }));
  // The whole state survives a target restart.
  const g = await prFixture({ store });
  await settle(g, vm101, vm102, vm103);
  assert.deepEqual(await status(g), [
    ['vm102', keys.vm102, true, 'WE_RO'],
    ['vm103', keys.vm103, false, '-'],
  ]);
  conflict(await g.exec(vm101, write10, block));
  good(await g.exec(vm102, write10, block));
  // vm101 rejoins the cluster: it registers again and may write.
  good(await register(g, vm101, keys.vm101, { aptpl: true }));
  good(await g.exec(vm101, write10, block));
});

test('fence_scsi: PREEMPT AND ABORT removes a node, aborts its write in flight, its writes then conflict', async () => {
  const dev = new GatedDevice(4 * 1024 * 1024);
  dev.open();
  const f = await prFixture({}, dev);
  const [node1, node2] = [nx('node1'), nx('node2')];
  await settle(f, node1, node2);
  // fence_scsi "on" (unfence): each node registers its key; the first reserves WE_RO (type 5).
  good(await register(f, node1, 0xa1n));
  good(await register(f, node2, 0xa2n));
  good(await prout(f, node1, SA.RESERVE, { key: 0xa1n, type: TYPE.WE_RO }));
  // node2 has a write in flight when node1 fences it.
  dev.closed = true;
  const inflight = f.exec(node2, write10, block);
  await drain();
  assert.equal(dev.waiting, 1);
  let fenced = false;
  const fence = prout(f, node1, SA.PREEMPT_AND_ABORT, { key: 0xa1n, sark: 0xa2n, type: TYPE.WE_RO }).then(
    (r) => {
      fenced = true;
      return r;
    },
  );
  await drain();
  assert.equal(fenced, false, 'PREEMPT AND ABORT completes only after the aborted task ended');
  dev.open();
  const [w, p] = await Promise.all([inflight, fence]);
  assert.equal(w.status, ScsiStatus.TASK_ABORTED);
  good(p);
  assert.deepEqual((await readKeys(f, node1)).keys, [0xa1n]);
  assert.deepEqual(uas(f, node2), [PR_ASC.REGISTRATIONS_PREEMPTED]);
  await settle(f, node2);
  conflict(await f.exec(node2, write10, block));
  good(await f.exec(node2, read10));
  // node2 reboots, logs in with a new ISID and unfences: register again, writes work.
  const node2b = nx('node2', 7);
  await settle(f, node2b);
  conflict(await f.exec(node2b, write10, block));
  good(await register(f, node2b, 0xa2n));
  good(await f.exec(node2b, write10, block));
});

test('fence_scsi with PREEMPT: the node keeps no registration and every write of it conflicts', async () => {
  const f = await prFixture();
  const nodes = [nx('n1'), nx('n2'), nx('n3')];
  await settle(f, ...nodes);
  for (const [i, n] of nodes.entries()) good(await register(f, n, BigInt(0x100 + i)));
  good(await prout(f, nodes[0]!, SA.RESERVE, { key: 0x100n, type: TYPE.WE_RO }));
  good(await prout(f, nodes[1]!, SA.PREEMPT, { key: 0x101n, sark: 0x102n, type: TYPE.WE_RO }));
  await settle(f, nodes[2]!);
  for (const cdb of [write10, [0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]]) {
    conflict(await f.exec(nodes[2]!, cdb, block));
  }
  assert.equal(
    (await readReservation(f, nodes[0]!)).reservation?.key,
    0x100n,
    'the reservation stays with n1',
  );
});

/** A store whose saves take a random while, so concurrent commands would interleave if they could. */
class SlowStore extends MemoryReservationStore {
  readonly generations: number[] = [];
  override async save(uuid: string, state: PrState): Promise<void> {
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    this.generations.push(state.generation);
    return super.save(uuid, state);
  }
}

test('64 I_T nexuses register at once: all registered, one save per change, saves in order', async () => {
  const store = new SlowStore();
  const f = await prFixture({ store });
  const ns = Array.from({ length: 64 }, (_, i) => nx(`host${i}`));
  await settle(f, ...ns);
  const rs = await Promise.all(ns.map((n, i) => register(f, n, BigInt(i + 1))));
  rs.forEach(good);
  const keys = await readKeys(f, ns[0]!);
  assert.equal(keys.generation, 64);
  assert.deepEqual(
    [...keys.keys].sort((a, b) => Number(a - b)),
    ns.map((_, i) => BigInt(i + 1)),
  );
  assert.deepEqual(
    store.generations,
    Array.from({ length: 64 }, (_, i) => i + 1),
  );
  // All of them race for the reservation: exactly one wins.
  const race = await Promise.all(
    ns.map((n, i) => prout(f, n, SA.RESERVE, { key: BigInt(i + 1), type: TYPE.EA })),
  );
  assert.equal(race.filter((r) => r.status === ScsiStatus.GOOD).length, 1);
  assert.equal(race.filter((r) => r.status === ScsiStatus.RESERVATION_CONFLICT).length, 63);
  // And concurrent unregistrations leave nothing behind.
  await Promise.all(ns.map((n, i) => prout(f, n, SA.REGISTER, { key: BigInt(i + 1), sark: 0n })));
  assert.deepEqual((await readKeys(f, ns[0]!)).keys, []);
  assert.equal((await readReservation(f, ns[0]!)).reservation, undefined);
  assert.equal(
    store.generations.length,
    64 + 1 + 64,
    'one save per change: the registrations, the winning RESERVE, the unregistrations',
  );
});

test('REGISTRATIONS PREEMPTED reaches every I_T nexus of an ALL_TG_PT registration', async () => {
  const f = await prFixture();
  const [a1, a2, b] = [nx('a', 1, 1), nx('a', 1, 2), nx('b')];
  await settle(f, a1, a2, b);
  good(await register(f, a1, 0xan, { allTgPt: true }));
  good(await register(f, b, 0xbn));
  good(await prout(f, b, SA.PREEMPT, { key: 0xbn, sark: 0xan, type: TYPE.WE }));
  assert.deepEqual(uas(f, a1), [PR_ASC.REGISTRATIONS_PREEMPTED]);
  assert.deepEqual(uas(f, a2), [PR_ASC.REGISTRATIONS_PREEMPTED]);
  assert.deepEqual(uas(f, b), []);
});

test('one logical unit exported through two targets has one reservation state', async () => {
  const f = await prFixture();
  const other = new ScsiTarget('iqn.2026-11.io.vdisk:second');
  other.addLun(0, f.lu);
  const viaSecond = (name: string): ItNexus => {
    const n = nx(name);
    const targetPort = 'iqn.2026-11.io.vdisk:second,t,0x0001';
    return {
      ...n,
      key: `${n.initiatorPort}|${targetPort}`,
      targetName: 'iqn.2026-11.io.vdisk:second',
      targetPort,
    };
  };
  const [a, b2] = [nx('a'), viaSecond('b')];
  await settle(f, a);
  for (let i = 0; i < 3; i++)
    await other.execute({
      nexus: b2,
      lun: 0,
      tag: 900 + i,
      cdb: Buffer.alloc(6),
      attribute: 'simple',
      expectedLength: 0,
    });
  good(await register(f, a, 0xan));
  good(await prout(f, a, SA.RESERVE, { key: 0xan, type: TYPE.WE }));
  const w = await other.execute({
    nexus: b2,
    lun: 0,
    tag: 999,
    cdb: Buffer.from([0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0]),
    attribute: 'simple',
    expectedLength: 512,
    dataOut: block,
  });
  assert.equal(
    w.status,
    ScsiStatus.RESERVATION_CONFLICT,
    'the reservation made through one target binds the other',
  );
  // The same initiator port through the second target is another I_T nexus: not registered there.
  const a2 = viaSecond('a');
  for (let i = 0; i < 3; i++)
    await other.execute({
      nexus: a2,
      lun: 0,
      tag: 950 + i,
      cdb: Buffer.alloc(6),
      attribute: 'simple',
      expectedLength: 0,
    });
  const w2 = await other.execute({
    nexus: a2,
    lun: 0,
    tag: 998,
    cdb: Buffer.from([0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0]),
    attribute: 'simple',
    expectedLength: 512,
    dataOut: block,
  });
  assert.equal(w2.status, ScsiStatus.RESERVATION_CONFLICT);
});
