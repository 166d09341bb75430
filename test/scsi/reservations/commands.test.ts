/**
 * The command table entries reservations hand to the core: one per PERSISTENT RESERVE IN/OUT
 * service action, SPC-2 RESERVE/RELEASE (6)/(10), usage data of the CDB's length, and offered only
 * by a logical unit whose reservation policy is the engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDevice } from '../../../src/block/index.js';
import { LogicalUnit, noReservations } from '../../../src/scsi/index.js';
import { PersistentReservations, RESERVATION_COMMANDS } from '../../../src/scsi/reservations/index.js';
import { UUID } from './harness.js';

test('RESERVATION_COMMANDS: the entries, their usage data and data lengths', () => {
  assert.deepEqual(
    RESERVATION_COMMANDS.map((e) => `${e.opcode.toString(16)}/${e.serviceAction ?? '-'} ${e.name}`),
    [
      '16/- RESERVE (6)',
      '17/- RELEASE (6)',
      '56/- RESERVE (10)',
      '57/- RELEASE (10)',
      ...[0, 1, 2, 3].map((sa) => `5e/${sa} PERSISTENT RESERVE IN`),
      ...[0, 1, 2, 3, 4, 5, 6, 7].map((sa) => `5f/${sa} PERSISTENT RESERVE OUT`),
    ],
  );
  for (const e of RESERVATION_COMMANDS) {
    assert.equal(e.usage.length, e.cdbLength, e.name);
    assert.equal(e.usage[0], e.opcode);
    assert.equal(e.usage[e.cdbLength - 1], 0, 'CONTROL: NACA not supported');
  }
  const prin = RESERVATION_COMMANDS.find((e) => e.opcode === 0x5e)!;
  const prout = RESERVATION_COMMANDS.find((e) => e.opcode === 0x5f)!;
  assert.equal(prin.dataLength(Buffer.from([0x5e, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0]), 512), 0x1234);
  assert.equal(prout.dataLength(Buffer.from([0x5f, 0, 0, 0, 0, 0, 1, 0, 24, 0]), 512), 0x10018);
});

test('offered only by a logical unit whose reservation policy is the engine', () => {
  const lu = new LogicalUnit(new MemoryDevice(1 << 20), { uuid: UUID });
  lu.reservations = noReservations;
  for (const e of RESERVATION_COMMANDS) assert.equal(e.available!(lu), false);
  lu.reservations = new PersistentReservations({ uuid: UUID });
  for (const e of RESERVATION_COMMANDS) assert.equal(e.available!(lu), true);
});
