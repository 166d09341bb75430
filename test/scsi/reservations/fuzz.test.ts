/**
 * Random PERSISTENT RESERVE OUT / IN traffic from several I_T nexuses: every command gets GOOD,
 * RESERVATION CONFLICT or CHECK CONDITION with ILLEGAL REQUEST / UNIT ATTENTION sense (never a
 * crash, never HARDWARE ERROR), and after every command the state keeps its invariants (checked by
 * a round trip through the state codec, which refuses a state that breaks them) and PRgeneration
 * never goes back. Seeded: VDISK_SEED reproduces a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSense } from '../../../src/scsi/index.js';
import { encodeProutParameters } from '../../../src/scsi/reservations/data/prout-parameters.js';
import { encodeRegisterAndMove } from '../../../src/scsi/reservations/data/register-and-move-parameters.js';
import { decodeState, encodeState } from '../../../src/scsi/reservations/state-codec.js';
import {
  nx,
  prFixture,
  prinCdb,
  proutCdb,
  ScsiStatus,
  SenseKey,
  UUID,
  write10,
  read10,
  block,
} from './harness.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

test('random reservation traffic keeps the state valid and every answer in SCSI terms', async (t) => {
  // A fixed seed by default, so that every run (CI's too) is the same traffic: the share of steps
  // that hold a reservation varies widely with the seed (28 to 729 of 3000 were seen), and the
  // check below needs traffic that does reserve. VDISK_SEED explores others.
  const seed = Number(process.env.VDISK_SEED ?? 1);
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const f = await prFixture({ maxRegistrations: 8 });
  const nexuses = [nx('a'), nx('b'), nx('c'), nx('a', 2), nx('b', 1, 2)];
  const keys = [0n, 1n, 2n, 3n, 0xffffffffffffffffn];
  const types = [0, 1, 3, 5, 6, 7, 8, 2, 9];
  let generation = 0;
  let reserved = 0;
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const n = pick(nexuses);
    const sa = Math.floor(rand() * 9);
    let data: Buffer;
    if (sa === 7 && rand() < 0.8) {
      data = encodeRegisterAndMove({
        key: pick(keys),
        serviceActionKey: pick(keys),
        unreg: rand() < 0.5,
        aptpl: rand() < 0.2,
        relativeTargetPortId: pick([1, 2, 3]),
        transportId: {
          format: 'port',
          name: pick(nexuses).initiatorName,
          isid: pick(['000000000001', '000000000002']),
        },
      });
    } else if (rand() < 0.9) {
      const spec = rand() < 0.1;
      data = encodeProutParameters({
        key: pick(keys),
        serviceActionKey: pick(keys),
        specIPt: spec,
        allTgPt: rand() < 0.15,
        aptpl: rand() < 0.2,
        ...(spec
          ? {
              transportIds: [
                { format: 'port' as const, name: pick(nexuses).initiatorName, isid: '000000000003' },
              ],
            }
          : {}),
      });
    } else {
      data = Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)));
    }
    const kind = rand();
    const r =
      kind < 0.7
        ? await f.exec(n, proutCdb(sa, pick(types), data.length, rand() < 0.05 ? 1 : 0), data)
        : kind < 0.8
          ? await f.exec(n, prinCdb(Math.floor(rand() * 5), Math.floor(rand() * 300)))
          : kind < 0.9
            ? await f.exec(n, write10, block)
            : await f.exec(n, rand() < 0.5 ? read10 : [pick([0x16, 0x17]), 0, 0, 0, 0, 0]);
    let label = `0x${r.status.toString(16)}`;
    if (r.status === ScsiStatus.CHECK_CONDITION) {
      const s = decodeSense(r.sense!);
      assert.ok(
        s.key === SenseKey.ILLEGAL_REQUEST || s.key === SenseKey.UNIT_ATTENTION,
        `seed ${seed} step ${i}: sense key ${s.key} asc 0x${s.asc.toString(16)}`,
      );
      label += `/${s.key}/${s.asc.toString(16)}`;
    } else {
      assert.ok(
        r.status === ScsiStatus.GOOD || r.status === ScsiStatus.RESERVATION_CONFLICT,
        `seed ${seed} step ${i}: status ${label}`,
      );
    }
    outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
    const snap = f.pr.snapshot();
    assert.deepEqual(decodeState(UUID, encodeState(UUID, snap)), snap, `seed ${seed} step ${i}: invariants`);
    assert.ok(snap.registrations.length <= 8);
    assert.ok(snap.generation >= generation, `seed ${seed} step ${i}: PRgeneration went back`);
    generation = snap.generation;
    if (snap.reservation) reserved++;
  }
  t.diagnostic(
    `seed ${seed}: ${reserved} steps with a reservation; outcomes ${JSON.stringify([...outcomes])}`,
  );
  assert.ok(reserved > 100, `seed ${seed}: the traffic rarely reserved (${reserved})`);
  assert.ok(
    (outcomes.get('0x0') ?? 0) > 100,
    `seed ${seed}: too few successes ${JSON.stringify([...outcomes])}`,
  );
});
