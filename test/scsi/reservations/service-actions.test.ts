/**
 * PERSISTENT RESERVE IN / OUT service actions against SPC-4 §5.13 and §6.15-§6.16: every service
 * action, its errors (with field pointers), PRgeneration counting and unit attentions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PR_ASC } from '../../../src/scsi/reservations/index.js';
import { encodeRegisterAndMove } from '../../../src/scsi/reservations/data/register-and-move-parameters.js';
import { encodeProutParameters } from '../../../src/scsi/reservations/data/prout-parameters.js';
import type { TransportId } from '../../../src/scsi/reservations/transport-id.js';
import {
  ASC,
  conflict,
  fullStatus,
  good,
  illegal,
  nx,
  prFixture,
  prinCdb,
  prout,
  proutCdb,
  readKeys,
  readReservation,
  register,
  reportCapabilities,
  SA,
  settle,
  TYPE,
  uas,
  type PrFixture,
} from './harness.js';
import type { ItNexus } from '../../../src/scsi/index.js';

const A = nx('a');
const B = nx('b');
const C = nx('c');

async function ready(...ns: ItNexus[]): Promise<PrFixture> {
  const f = await prFixture();
  await settle(f, ...(ns.length ? ns : [A, B, C]));
  return f;
}

const portOf = (name: string, isid = 1): TransportId => ({
  format: 'port',
  name: `iqn.2026-11.io.vdisk:${name}`,
  isid: isid.toString(16).padStart(12, '0'),
});

test('REGISTER: unregistered and registered I_T nexus behaviours (Tables 39 and 40), PRgeneration', async () => {
  const f = await ready(A);
  conflict(await prout(f, A, SA.REGISTER, { key: 5n, sark: 7n })); // unregistered, key != 0
  good(await prout(f, A, SA.REGISTER, { key: 0n, sark: 0n })); // registers nothing, still counts
  assert.deepEqual(await readKeys(f, A), { generation: 1, keys: [], additionalLength: 0 });
  good(await prout(f, A, SA.REGISTER, { sark: 7n }));
  assert.deepEqual((await readKeys(f, A)).keys, [7n]);
  conflict(await prout(f, A, SA.REGISTER, { key: 8n, sark: 9n })); // wrong key
  good(await prout(f, A, SA.REGISTER, { key: 7n, sark: 9n })); // change key
  assert.deepEqual(await readKeys(f, A), { generation: 3, keys: [9n], additionalLength: 8 });
  good(await prout(f, A, SA.REGISTER_AND_IGNORE, { key: 1234n, sark: 10n })); // key ignored
  good(await prout(f, A, SA.REGISTER, { key: 10n, sark: 0n })); // unregister
  assert.deepEqual(await readKeys(f, A), { generation: 5, keys: [], additionalLength: 0 });
  // Failed and conflicting commands do not count; RESERVE and RELEASE never do.
  conflict(await prout(f, A, SA.REGISTER, { key: 1n, sark: 2n }));
  assert.equal((await readKeys(f, A)).generation, 5);
});

test('RESERVE / RELEASE: holder rules, CDB checks, INVALID RELEASE, no PRgeneration change', async () => {
  const f = await ready();
  await register(f, A, 0xan);
  await register(f, B, 0xbn);
  conflict(await prout(f, C, SA.RESERVE, { key: 0xcn, type: TYPE.WE })); // unregistered
  conflict(await prout(f, A, SA.RESERVE, { key: 0xbn, type: TYPE.WE })); // wrong key
  for (const bad of [0, 2, 4, 9, 15]) {
    illegal(await prout(f, A, SA.RESERVE, { key: 0xan, type: bad }), ASC.INVALID_FIELD_IN_CDB, {
      cdb: true,
      byte: 2,
      bit: 3,
    });
  }
  const scoped = encodeProutParameters({
    key: 0xan,
    serviceActionKey: 0n,
    specIPt: false,
    allTgPt: false,
    aptpl: false,
  });
  illegal(await f.exec(A, proutCdb(SA.RESERVE, TYPE.WE, 24, 1), scoped), ASC.INVALID_FIELD_IN_CDB, {
    cdb: true,
    byte: 2,
    bit: 7,
  });
  good(await prout(f, A, SA.RESERVE, { key: 0xan, type: TYPE.WE_RO }));
  assert.deepEqual(await readReservation(f, B), {
    generation: 2,
    reservation: { key: 0xan, scope: 0, type: 'WE_RO' },
  });
  good(await prout(f, A, SA.RESERVE, { key: 0xan, type: TYPE.WE_RO })); // same again: GOOD
  conflict(await prout(f, A, SA.RESERVE, { key: 0xan, type: TYPE.EA })); // holder changing type
  conflict(await prout(f, B, SA.RESERVE, { key: 0xbn, type: TYPE.WE_RO })); // another holder
  good(await prout(f, B, SA.RELEASE, { key: 0xbn, type: TYPE.WE_RO })); // not the holder: no-op
  assert.ok((await readReservation(f, A)).reservation);
  illegal(
    await prout(f, A, SA.RELEASE, { key: 0xan, type: TYPE.WE }),
    PR_ASC.INVALID_RELEASE_OF_PERSISTENT_RESERVATION,
  );
  good(await prout(f, A, SA.RELEASE, { key: 0xan, type: TYPE.WE_RO }));
  assert.deepEqual(await readReservation(f, A), { generation: 2 });
  // Releasing a Registrants Only reservation: RESERVATIONS RELEASED for the other registrants only.
  assert.deepEqual(uas(f, B), [PR_ASC.RESERVATIONS_RELEASED]);
  assert.deepEqual(uas(f, A), []);
  assert.deepEqual(uas(f, C), []);
  good(await prout(f, A, SA.RELEASE, { key: 0xan, type: TYPE.WE_RO })); // nothing reserved: GOOD
  await settle(f, B);
  // Write Exclusive released: no unit attention (§5.13.11.2.2).
  good(await prout(f, A, SA.RESERVE, { key: 0xan, type: TYPE.WE }));
  good(await prout(f, A, SA.RELEASE, { key: 0xan, type: TYPE.WE }));
  assert.deepEqual(uas(f, B), []);
});

test('All Registrants: every registrant holds; READ RESERVATION key 0; last one out releases', async () => {
  const f = await ready();
  await register(f, A, 0xan);
  await register(f, B, 0xbn);
  good(await prout(f, A, SA.RESERVE, { key: 0xan, type: TYPE.EA_AR }));
  assert.deepEqual((await readReservation(f, C)).reservation, { key: 0n, scope: 0, type: 'EA_AR' });
  good(await prout(f, B, SA.RESERVE, { key: 0xbn, type: TYPE.EA_AR })); // B is a holder too
  const fs1 = await fullStatus(f, A);
  assert.deepEqual(
    fs1.descriptors.map((d) => [d.key, d.holder, d.reservation?.type]),
    [
      [0xan, true, 'EA_AR'],
      [0xbn, true, 'EA_AR'],
    ],
  );
  good(await prout(f, A, SA.REGISTER, { key: 0xan, sark: 0n })); // A leaves: still reserved
  assert.equal((await readReservation(f, C)).reservation?.type, 'EA_AR');
  good(await prout(f, B, SA.REGISTER, { key: 0xbn, sark: 0n })); // last registrant leaves
  assert.equal((await readReservation(f, C)).reservation, undefined);
});

test('unregistering the holder of a Registrants Only reservation releases it with RESERVATIONS RELEASED', async () => {
  const f = await ready();
  await register(f, A, 0xan);
  await register(f, B, 0xbn);
  good(await prout(f, A, SA.RESERVE, { key: 0xan, type: TYPE.EA_RO }));
  good(await prout(f, A, SA.REGISTER, { key: 0xan, sark: 0n }));
  assert.equal((await readReservation(f, B)).reservation, undefined);
  assert.deepEqual(uas(f, B), [PR_ASC.RESERVATIONS_RELEASED]);
});

test('CLEAR: everything goes, PRgeneration + 1, RESERVATIONS PREEMPTED for the others', async () => {
  const f = await ready();
  await register(f, A, 0xan);
  await register(f, B, 0xbn);
  good(await prout(f, A, SA.RESERVE, { key: 0xan, type: TYPE.WE }));
  conflict(await prout(f, C, SA.CLEAR, { key: 0n }));
  conflict(await prout(f, B, SA.CLEAR, { key: 0xan }));
  good(await prout(f, B, SA.CLEAR, { key: 0xbn }));
  assert.deepEqual(await readKeys(f, C), { generation: 3, keys: [], additionalLength: 0 });
  assert.equal((await readReservation(f, C)).reservation, undefined);
  assert.deepEqual(uas(f, A), [PR_ASC.RESERVATIONS_PREEMPTED]);
  assert.deepEqual(uas(f, B), []);
});

test('PREEMPT without a reservation removes registrations (libiscsi ProutPreempt.RemoveRegistration)', async () => {
  const f = await ready();
  await register(f, A, 0xan);
  await register(f, B, 0xbn);
  const before = (await readKeys(f, A)).generation;
  illegal(
    await prout(f, B, SA.PREEMPT, { key: 0xbn, sark: 0n, type: TYPE.EA }),
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    {
      cdb: false,
      byte: 8,
    },
  );
  conflict(await prout(f, B, SA.PREEMPT, { key: 0xbn, sark: 0x99n, type: TYPE.EA })); // no such key
  conflict(await prout(f, C, SA.PREEMPT, { key: 0n, sark: 0xan, type: TYPE.EA })); // unregistered
  good(await prout(f, B, SA.PREEMPT, { key: 0xbn, sark: 0xan, type: TYPE.EA }));
  const after = await readKeys(f, A);
  assert.deepEqual(after.keys, [0xbn]);
  assert.equal(after.generation, before + 1);
  assert.equal((await readReservation(f, A)).reservation, undefined, 'no reservation was created');
  assert.deepEqual(uas(f, A), [PR_ASC.REGISTRATIONS_PREEMPTED]);
  assert.deepEqual(uas(f, B), []);
});

test('PREEMPT of the holder: new holder and type; REGISTRATIONS PREEMPTED and RESERVATIONS RELEASED', async () => {
  const f = await ready();
  await register(f, A, 0xan);
  await register(f, B, 0xbn);
  await register(f, C, 0xcn);
  good(await prout(f, A, SA.RESERVE, { key: 0xan, type: TYPE.WE_RO }));
  good(await prout(f, B, SA.PREEMPT, { key: 0xbn, sark: 0xan, type: TYPE.EA_RO }));
  assert.deepEqual((await readReservation(f, C)).reservation, { key: 0xbn, scope: 0, type: 'EA_RO' });
  assert.deepEqual((await readKeys(f, C)).keys, [0xbn, 0xcn]);
  assert.deepEqual(uas(f, A), [PR_ASC.REGISTRATIONS_PREEMPTED]);
  assert.deepEqual(uas(f, C), [PR_ASC.RESERVATIONS_RELEASED], 'type changed: the remaining registrant hears');
  assert.deepEqual(uas(f, B), []);
  // The holder preempting itself changes the type and keeps its registration.
  await settle(f, C);
  good(await prout(f, B, SA.PREEMPT, { key: 0xbn, sark: 0xbn, type: TYPE.WE }));
  assert.deepEqual((await readReservation(f, C)).reservation, { key: 0xbn, scope: 0, type: 'WE' });
  assert.deepEqual((await readKeys(f, C)).keys, [0xbn, 0xcn]);
});

test('PREEMPT of an All Registrants reservation: SARK 0 takes it over, SARK != 0 removes registrations', async () => {
  const f = await ready();
  await register(f, A, 0xan);
  await register(f, B, 0xbn);
  await register(f, C, 0xcn);
  good(await prout(f, A, SA.RESERVE, { key: 0xan, type: TYPE.WE_AR }));
  good(await prout(f, B, SA.PREEMPT, { key: 0xbn, sark: 0xcn, type: TYPE.WE_AR }));
  assert.deepEqual((await readKeys(f, A)).keys, [0xan, 0xbn]);
  assert.equal((await readReservation(f, A)).reservation?.type, 'WE_AR');
  good(await prout(f, B, SA.PREEMPT, { key: 0xbn, sark: 0n, type: TYPE.EA }));
  assert.deepEqual((await readKeys(f, A)).keys, [0xbn]);
  assert.deepEqual((await readReservation(f, B)).reservation, { key: 0xbn, scope: 0, type: 'EA' });
  assert.deepEqual(uas(f, A), [PR_ASC.REGISTRATIONS_PREEMPTED]);
  assert.deepEqual(uas(f, C), [PR_ASC.REGISTRATIONS_PREEMPTED]);
});

test('REGISTER AND MOVE: moves the reservation, registers the destination, UNREG, errors', async () => {
  const f = await ready();
  await register(f, A, 0xan);
  await register(f, C, 0xcn);
  const ram = (n = A, o: Partial<Parameters<typeof encodeRegisterAndMove>[0]> = {}) => {
    const data = encodeRegisterAndMove({
      key: 0xan,
      serviceActionKey: 0xbn,
      unreg: false,
      aptpl: false,
      relativeTargetPortId: 1,
      transportId: portOf('b'),
      ...o,
    });
    return f.exec(n, proutCdb(SA.REGISTER_AND_MOVE, TYPE.WE, data.length), data);
  };
  conflict(await ram()); // nothing reserved
  good(await prout(f, A, SA.RESERVE, { key: 0xan, type: TYPE.WE }));
  conflict(await ram(C, { key: 0xcn })); // C is not the holder
  conflict(await ram(A, { key: 0xcn })); // wrong key
  illegal(await ram(A, { serviceActionKey: 0n }), ASC.INVALID_FIELD_IN_PARAMETER_LIST, {
    cdb: false,
    byte: 8,
  });
  illegal(await ram(A, { relativeTargetPortId: 9 }), ASC.INVALID_FIELD_IN_PARAMETER_LIST, {
    cdb: false,
    byte: 18,
  });
  illegal(await ram(A, { transportId: portOf('a') }), ASC.INVALID_FIELD_IN_PARAMETER_LIST, {
    cdb: false,
    byte: 24,
  });
  const gen = (await readKeys(f, A)).generation;
  good(await ram(A, { unreg: true }));
  assert.deepEqual((await readReservation(f, B)).reservation, { key: 0xbn, scope: 0, type: 'WE' });
  assert.deepEqual(await readKeys(f, B), { generation: gen + 1, keys: [0xcn, 0xbn], additionalLength: 16 });
  const holders = (await fullStatus(f, B)).descriptors.filter((d) => d.holder);
  assert.deepEqual(
    holders.map((d) => d.transportId),
    [portOf('b')],
  );
  // The moved reservation: B writes, A (now unregistered) conflicts.
  await settle(f, B);
  good(await f.exec(B, [0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0], Buffer.alloc(512)));
  conflict(await f.exec(A, [0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0], Buffer.alloc(512)));
  // All Registrants reservations cannot move.
  good(await prout(f, B, SA.RELEASE, { key: 0xbn, type: TYPE.WE }));
  good(await prout(f, B, SA.RESERVE, { key: 0xbn, type: TYPE.WE_AR }));
  conflict(await ram(B, { key: 0xbn, transportId: portOf('a') }));
});

test('SPEC_I_PT registers every TransportID; duplicates, registered and unknown initiators are refused', async () => {
  const f = await prFixture({ knownInitiator: (id) => !id.name.endsWith(':stranger') });
  await settle(f, A, B, C);
  const list = [portOf('b'), { format: 'device', name: 'iqn.2026-11.io.vdisk:c' } as const, portOf('a')];
  good(await prout(f, A, SA.REGISTER, { sark: 0x77n, specIPt: list }));
  assert.deepEqual((await readKeys(f, A)).keys, [0x77n, 0x77n, 0x77n], 'A (listed too) once, B, C');
  // The device-wide registration covers C's every ISID.
  await settle(f, nx('c', 42));
  conflict(await prout(f, nx('c', 42), SA.REGISTER, { key: 0n, sark: 1n }));
  good(await prout(f, nx('c', 42), SA.RESERVE, { key: 0x77n, type: TYPE.WE }));
  const tids = (await fullStatus(f, A)).descriptors.map((d) => d.transportId);
  assert.deepEqual(tids[2], { format: 'device', name: 'iqn.2026-11.io.vdisk:c' });
  // Errors point at the offending TransportID: 28 is the first, 28 + 44 the second.
  const D = nx('d');
  await settle(f, D);
  illegal(
    await prout(f, D, SA.REGISTER, { sark: 1n, specIPt: [portOf('e'), portOf('b')] }),
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    {
      cdb: false,
      byte: 72,
    },
  );
  illegal(
    await prout(f, D, SA.REGISTER, { sark: 1n, specIPt: [portOf('e'), portOf('e')] }),
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    {
      cdb: false,
      byte: 72,
    },
  );
  illegal(
    await prout(f, D, SA.REGISTER, { sark: 1n, specIPt: [portOf('stranger')] }),
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    {
      cdb: false,
      byte: 28,
    },
  );
  assert.equal((await readKeys(f, A)).keys.length, 3, 'all or nothing');
  illegal(
    await prout(f, D, SA.REGISTER_AND_IGNORE, { sark: 1n, specIPt: [portOf('e')] }),
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    {
      cdb: false,
      byte: 20,
      bit: 3,
    },
  );
  illegal(
    await prout(f, B, SA.REGISTER, { key: 0x77n, sark: 1n, specIPt: [portOf('e')] }),
    ASC.INVALID_FIELD_IN_PARAMETER_LIST,
    {
      cdb: false,
      byte: 20,
      bit: 3,
    },
  );
});

test('INSUFFICIENT REGISTRATION RESOURCES past the cap, all or nothing', async () => {
  const f = await prFixture({ maxRegistrations: 3 });
  await settle(f, A, B, C);
  good(await register(f, A, 1n));
  illegal(
    await prout(f, B, SA.REGISTER, { sark: 2n, specIPt: [portOf('x'), portOf('y')] }),
    PR_ASC.INSUFFICIENT_REGISTRATION_RESOURCES,
  );
  good(await prout(f, B, SA.REGISTER, { sark: 2n, specIPt: [portOf('x')] }));
  illegal(await register(f, C, 3n), PR_ASC.INSUFFICIENT_REGISTRATION_RESOURCES);
});

test('ALL_TG_PT: one registration covers the initiator port on every target port', async () => {
  const f = await ready(A);
  const A2 = nx('a', 1, 2);
  await settle(f, A2);
  good(await register(f, A, 0xan, { allTgPt: true }));
  const fsd = (await fullStatus(f, A)).descriptors;
  assert.equal(fsd.length, 1);
  assert.equal(fsd[0]!.allTgPt, true);
  good(await prout(f, A2, SA.RESERVE, { key: 0xan, type: TYPE.WE })); // registered through port 2 too
  // The holder is the I_T nexus through port 2 (§5.13.10); through port 1 A is registered only.
  conflict(await f.exec(A, [0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0], Buffer.alloc(512)));
  good(await f.exec(A2, [0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0], Buffer.alloc(512)));
  // Without ALL_TG_PT the other port is a different, unregistered I_T nexus.
  const g = await ready(B);
  const B2 = nx('b', 1, 2);
  await settle(g, B2);
  good(await register(g, B, 0xbn));
  conflict(await prout(g, B2, SA.RESERVE, { key: 0xbn, type: TYPE.WE }));
});

test('a re-login with a new ISID is a new, unregistered I_T nexus', async () => {
  const f = await ready(A);
  good(await register(f, A, 0xan));
  const again = nx('a', 2);
  await settle(f, again);
  conflict(await prout(f, again, SA.RESERVE, { key: 0xan, type: TYPE.WE }));
  good(await register(f, again, 0xan));
  assert.deepEqual((await readKeys(f, A)).keys, [0xan, 0xan]);
});

test('APTPL sets PTPL_A; REPORT CAPABILITIES advertises what the engine does', async () => {
  const f = await ready(A);
  const caps = await reportCapabilities(f, A);
  assert.deepEqual(
    { ...caps, types: [...caps.types].sort() },
    {
      rlrC: false,
      crh: true,
      sipC: true,
      atpC: true,
      ptplC: true,
      tmv: true,
      allowCommands: 2,
      ptplA: false,
      types: ['EA', 'EA_AR', 'EA_RO', 'WE', 'WE_AR', 'WE_RO'],
    },
  );
  good(await register(f, A, 1n, { aptpl: true }));
  assert.equal((await reportCapabilities(f, A)).ptplA, true);
  good(await prout(f, A, SA.RESERVE, { key: 1n, type: TYPE.WE, aptpl: false })); // ignored by RESERVE
  assert.equal((await reportCapabilities(f, A)).ptplA, true);
});

test('parameter list lengths: PARAMETER LIST LENGTH ERROR', async () => {
  const f = await ready(A);
  const p = Buffer.alloc(32);
  illegal(
    await f.exec(A, proutCdb(SA.REGISTER_AND_IGNORE, 0, 23), p.subarray(0, 23)),
    ASC.PARAMETER_LIST_LENGTH_ERROR,
  );
  illegal(await f.exec(A, proutCdb(SA.REGISTER_AND_IGNORE, 0, 32), p), ASC.PARAMETER_LIST_LENGTH_ERROR);
  illegal(await f.exec(A, proutCdb(SA.REGISTER_AND_IGNORE, 0, 0)), ASC.PARAMETER_LIST_LENGTH_ERROR);
  illegal(
    await f.exec(A, proutCdb(SA.REGISTER_AND_IGNORE, 0, 24), p.subarray(0, 12)),
    ASC.PARAMETER_LIST_LENGTH_ERROR,
  );
  illegal(
    await f.exec(A, proutCdb(SA.REGISTER_AND_MOVE, 0, 10), p.subarray(0, 10)),
    ASC.PARAMETER_LIST_LENGTH_ERROR,
  );
});

test('PERSISTENT RESERVE IN: allocation length truncates, unknown service actions are refused', async () => {
  const f = await ready(A, B);
  await register(f, A, 1n);
  await register(f, B, 2n);
  const r = await f.exec(A, prinCdb(0, 12));
  good(r);
  assert.equal(r.dataIn!.length, 12);
  assert.equal(r.dataIn!.readUInt32BE(4), 16, 'ADDITIONAL LENGTH counts every key');
  for (const sa of [4, 5, 0x1f])
    illegal(await f.exec(A, prinCdb(sa)), ASC.INVALID_FIELD_IN_CDB, { cdb: true, byte: 1, bit: 4 });
  illegal(await f.exec(A, proutCdb(8)), ASC.INVALID_FIELD_IN_CDB, { cdb: true, byte: 1, bit: 4 });
});
