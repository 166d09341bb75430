/**
 * The conflict table (SPC-4 §5.13.1 Table 63, SBC-3 Table 13) exhaustively: every reservation
 * type x the I_T nexus's relation to it x every command class; every command the core knows has a
 * row; real READ/WRITE through the core's dispatcher as libiscsi's ProutReserve.Access* and
 * Ownership* tests drive them; SPC-2 RESERVE/RELEASE and their interactions with persistent
 * reservations (SPC-4 §5.13.3), with the release on nexus loss and resets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from '../../../src/scsi/index.js';
import {
  classify,
  COMMAND_CLASS,
  PR_TYPES,
  RESERVATION_COMMANDS,
  type CommandClass,
  type PrType,
} from '../../../src/scsi/reservations/index.js';
import { persistentConflict } from '../../../src/scsi/reservations/conflicts.js';
import { emptyState, nexusIdOf, type PrState } from '../../../src/scsi/reservations/state.js';
import {
  block,
  conflict,
  good,
  nx,
  prFixture,
  prinCdb,
  prout,
  read10,
  readReservation,
  register,
  SA,
  ScsiStatus,
  settle,
  TYPE,
  write10,
} from './harness.js';

test('every command of the core and of reservations has a row in the conflict table', () => {
  for (const e of [...COMMANDS, ...RESERVATION_COMMANDS])
    assert.ok(e.name in COMMAND_CLASS, `no row for ${e.name}`);
  // Commands the next pieces of issue 6 add, already classified.
  for (const name of ['COMPARE AND WRITE', 'EXTENDED COPY', 'RECEIVE COPY RESULTS'])
    assert.equal(classify(name, Buffer.alloc(16)), 'write');
  assert.equal(classify('SOMETHING NEW', Buffer.alloc(16)), 'write', 'unknown commands take the safe side');
});

test('CDB-dependent rows: PREVENT ALLOW MEDIUM REMOVAL and START STOP UNIT', () => {
  const cdb = (b4: number) => Buffer.from([0, 0, 0, 0, b4, 0]);
  assert.equal(classify('PREVENT ALLOW MEDIUM REMOVAL', cdb(0)), 'always');
  assert.equal(classify('PREVENT ALLOW MEDIUM REMOVAL', cdb(1)), 'write');
  assert.equal(classify('START STOP UNIT', cdb(0x01)), 'always');
  assert.equal(classify('START STOP UNIT', cdb(0x00)), 'write');
  assert.equal(classify('START STOP UNIT', cdb(0x11)), 'write', 'a power condition');
});

// SPC-4 Table 63 as printed: A = allowed, C = conflict, for a non-holder.
// Columns: WE any | EA any | WE_RO/AR registered | WE_RO/AR not | EA_RO/AR registered | EA_RO/AR not
const TABLE: Record<'always' | 'read' | 'write', string> = {
  always: 'A A A A A A',
  read: 'A C A A A C',
  write: 'C C A C A C',
};

function expected(
  cls: CommandClass,
  type: PrType,
  relation: 'holder' | 'registered' | 'unregistered',
): boolean {
  if (relation === 'holder' || cls === 'pr' || cls === 'spc2') return false;
  const cols = TABLE[cls].split(' ');
  const column =
    type === 'WE'
      ? 0
      : type === 'EA'
        ? 1
        : type.startsWith('WE')
          ? relation === 'registered'
            ? 2
            : 3
          : relation === 'registered'
            ? 4
            : 5;
  return cols[column] === 'C';
}

test('Table 63 exhaustively: 6 types x holder/registered/unregistered x 5 classes', () => {
  const holder = nexusIdOf(nx('h'));
  const registered = nexusIdOf(nx('r'));
  const stranger = nexusIdOf(nx('u'));
  let cases = 0;
  for (const type of PR_TYPES) {
    const s: PrState = emptyState();
    for (const [n, key] of [
      [holder, 1n],
      [registered, 2n],
    ] as const) {
      s.registrations.push({
        key,
        initiator: n.initiator,
        targetPort: n.targetPort,
        relativeTargetPortId: 1,
        allTgPt: false,
      });
    }
    const ar = type === 'WE_AR' || type === 'EA_AR';
    s.reservation = { type, scope: 0, holder: ar ? undefined : holder };
    for (const cls of ['always', 'read', 'write', 'pr', 'spc2'] as const) {
      for (const [relation, n] of [
        ['holder', holder],
        ['registered', registered],
        ['unregistered', stranger],
      ] as const) {
        // Under All Registrants every registrant is a holder.
        const rel = ar && relation === 'registered' ? 'holder' : relation;
        assert.equal(persistentConflict(s, n, cls), expected(cls, type, rel), `${type} ${relation} ${cls}`);
        cases++;
      }
    }
    // No reservation: nothing conflicts, whoever asks.
    const free = { ...s, reservation: undefined };
    for (const cls of ['always', 'read', 'write'] as const)
      assert.equal(persistentConflict(free, stranger, cls), false);
  }
  assert.equal(cases, 6 * 5 * 3);
});

// libiscsi test_prout_reserve_access.c: [registered can read, can write, unregistered can read, can write].
const ACCESS: Record<string, [number, number, number, number]> = {
  EA: [0, 0, 0, 0],
  WE: [1, 0, 1, 0],
  EA_RO: [1, 1, 0, 0],
  WE_RO: [1, 1, 1, 0],
  EA_AR: [1, 1, 0, 0],
  WE_AR: [1, 1, 1, 0],
};

for (const [type, [regRead, regWrite, unregRead, unregWrite]] of Object.entries(ACCESS)) {
  test(`ProutReserve.Access${type}: reads and writes through the core's dispatcher`, async () => {
    const f = await prFixture();
    const [a, b] = [nx('a'), nx('b')];
    await settle(f, a, b);
    good(await register(f, a, 0xan));
    good(await register(f, b, 0xbn));
    good(await prout(f, a, SA.RESERVE, { key: 0xan, type: TYPE[type as keyof typeof TYPE] }));
    const ok = async (cdb: number[], data: Buffer | undefined, allowed: number, what: string) => {
      const r = await f.exec(b, cdb, data);
      assert.equal(r.status, allowed ? ScsiStatus.GOOD : ScsiStatus.RESERVATION_CONFLICT, what);
    };
    good(await f.exec(a, read10));
    good(await f.exec(a, write10, block));
    await ok(read10, undefined, regRead, 'registered read');
    await ok(write10, block, regWrite, 'registered write');
    good(await prout(f, b, SA.REGISTER, { key: 0xbn, sark: 0n }));
    await ok(read10, undefined, unregRead, 'unregistered read');
    await ok(write10, block, unregWrite, 'unregistered write');
    // Always allowed, whatever the type: INQUIRY, TEST UNIT READY, READ CAPACITY, REPORT LUNS, PRIN.
    for (const cdb of [
      [0x12, 0, 0, 0, 36, 0],
      [0, 0, 0, 0, 0, 0],
      [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
      prinCdb(0),
    ]) {
      good(await f.exec(b, cdb));
    }
    good(await prout(f, a, SA.RELEASE, { key: 0xan, type: TYPE[type as keyof typeof TYPE] }));
    good(await f.exec(b, write10, block));
  });
}

for (const type of PR_TYPES) {
  const shared = type === 'WE_AR' || type === 'EA_AR';
  test(`ProutReserve.Ownership${type}: the holder unregistering ${shared ? 'keeps' : 'releases'} the reservation`, async () => {
    const f = await prFixture();
    const [a, b] = [nx('a'), nx('b')];
    await settle(f, a, b);
    good(await register(f, a, 1n));
    good(await register(f, b, 2n));
    good(await prout(f, a, SA.RESERVE, { key: 1n, type: TYPE[type] }));
    good(await prout(f, a, SA.REGISTER, { key: 1n, sark: 0n }));
    assert.equal((await readReservation(f, a)).reservation?.type, shared ? type : undefined);
    if (shared) good(await prout(f, b, SA.RELEASE, { key: 2n, type: TYPE[type] }));
    await settle(f, b);
    good(await prout(f, b, SA.REGISTER, { key: 2n, sark: 0n }));
  });
}

const RESERVE6 = [0x16, 0, 0, 0, 0, 0];
const RELEASE6 = [0x17, 0, 0, 0, 0, 0];
const RESERVE10 = [0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const RELEASE10 = [0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const MODE_SENSE6 = [0x1a, 0, 0x3f, 0, 0xff, 0];

test('SPC-2 RESERVE/RELEASE across two initiators (libiscsi Reserve6.2Initiators), (6) and (10)', async () => {
  for (const [reserve, release] of [
    [RESERVE6, RELEASE6],
    [RESERVE10, RELEASE10],
  ]) {
    const f = await prFixture();
    const [a, b] = [nx('a'), nx('b')];
    await settle(f, a, b);
    good(await f.exec(b, release!)); // RELEASE without a reservation is not a conflict
    good(await f.exec(a, reserve!));
    good(await f.exec(a, reserve!)); // the holder may reserve again
    conflict(await f.exec(b, reserve!));
    good(await f.exec(b, release!)); // a no-op
    good(await f.exec(a, MODE_SENSE6));
    conflict(await f.exec(b, MODE_SENSE6));
    conflict(await f.exec(b, [0, 0, 0, 0, 0, 0])); // TEST UNIT READY conflicts under SPC-2
    conflict(await f.exec(b, read10));
    good(await f.exec(b, [0x12, 0, 0, 0, 36, 0])); // INQUIRY does not
    good(await f.exec(b, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])); // REPORT LUNS neither
    // SPC-2 §5.5.1: PERSISTENT RESERVE IN/OUT conflict for everyone, the holder included.
    conflict(await f.exec(a, prinCdb(0)));
    conflict(await register(f, a, 1n));
    good(await f.exec(a, release!));
    good(await f.exec(b, reserve!));
    good(await f.exec(b, release!));
    // 3RDPTY / LONGID / extents are not supported.
    const third = [...reserve!];
    third[1] = 0x10;
    assert.equal((await f.exec(a, third)).status, ScsiStatus.CHECK_CONDITION);
  }
});

test('SPC-2 reservations are released by I_T nexus loss, LU reset and target reset (Reserve6.*)', async () => {
  const f = await prFixture();
  const [a, b] = [nx('a'), nx('b')];
  await settle(f, a, b);
  good(await f.exec(a, RESERVE6));
  f.target.nexusLost(a);
  await settle(f, b);
  good(await f.exec(b, RESERVE6));
  assert.equal(
    await f.target.taskManagement({ nexus: a, lun: 0, fn: 'logical-unit-reset' }),
    'function-complete',
  );
  await settle(f, a, b);
  good(await f.exec(a, RESERVE6));
  await f.target.taskManagement({ nexus: b, lun: 0, fn: 'target-warm-reset' });
  await settle(f, a, b);
  good(await f.exec(b, RESERVE6));
  await f.target.taskManagement({ nexus: a, lun: 0, fn: 'target-cold-reset' });
  await settle(f, a, b);
  good(await f.exec(a, RESERVE6));
  good(await f.exec(a, RELEASE6));
});

test('SPC-4 §5.13.3: RESERVE/RELEASE meet persistent reservations (CRH = 1)', async () => {
  const f = await prFixture();
  const [a, b, c] = [nx('a'), nx('b'), nx('c')];
  await settle(f, a, b, c);
  good(await register(f, a, 1n));
  // Registrations exist, no reservation: RESERVE and RELEASE conflict, for everyone.
  conflict(await f.exec(a, RESERVE6));
  conflict(await f.exec(c, RELEASE6));
  good(await prout(f, a, SA.RESERVE, { key: 1n, type: TYPE.WE_RO }));
  good(await register(f, b, 2n));
  good(await f.exec(a, RESERVE6)); // the holder: GOOD, nothing changes
  good(await f.exec(b, RESERVE10)); // registered under Registrants Only: GOOD, nothing changes
  good(await f.exec(b, RELEASE10));
  conflict(await f.exec(c, RESERVE6)); // unregistered
  assert.equal(f.pr.spc2Holder, undefined);
  assert.equal((await readReservation(f, a)).reservation?.type, 'WE_RO');
  good(await prout(f, a, SA.CLEAR, { key: 1n }));
  good(await f.exec(c, RESERVE6)); // nothing persistent left: SPC-2 again
  await settle(f, b); // RESERVATIONS PREEMPTED from the CLEAR
  conflict(await register(f, b, 3n));
  good(await f.exec(c, RELEASE6));
});
