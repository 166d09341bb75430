/**
 * Test harness for reservations: a LogicalUnit with a PersistentReservations engine attached, and
 * `exec`, which runs any command through ScsiTarget.execute (the core's table carries
 * RESERVATION_COMMANDS, and its dispatcher asks `lu.reservations.conflicts`). Also CDB and
 * parameter-list builders named after the spec's fields, PRIN readers and assertions.
 */
import assert from 'node:assert/strict';
import { MemoryDevice, type BlockDevice } from '../../../src/block/index.js';
import {
  ASC,
  decodeSense,
  describeSense,
  LogicalUnit,
  ScsiStatus,
  ScsiTarget,
  SenseKey,
  type ItNexus,
  type ScsiResponse,
} from '../../../src/scsi/index.js';
import {
  PersistentReservations,
  type PersistentReservationsOptions,
  type ReservationStore,
} from '../../../src/scsi/reservations/index.js';
import { encodeProutParameters } from '../../../src/scsi/reservations/data/prout-parameters.js';
import type { TransportId } from '../../../src/scsi/reservations/transport-id.js';
import { MIB, TARGET, UUID } from '../helpers.js';

export { UUID };

/** An I_T nexus of initiator `name` with ISID `isid` through target port `tpgt`. */
export function nx(name: string, isid = 1, tpgt = 1): ItNexus {
  const initiatorName = `iqn.2026-11.io.vdisk:${name}`;
  const initiatorPort = `${initiatorName},i,0x${isid.toString(16).padStart(12, '0')}`;
  const targetPort = `${TARGET},t,0x${tpgt.toString(16).padStart(4, '0')}`;
  return {
    key: `${initiatorPort}|${targetPort}`,
    initiatorName,
    initiatorPort,
    targetName: TARGET,
    targetPort,
    relativeTargetPortId: tpgt,
    targetPortGroup: tpgt,
    protocolId: 5,
  };
}

export interface PrFixture {
  lu: LogicalUnit;
  target: ScsiTarget;
  pr: PersistentReservations;
  exec(n: ItNexus, cdb: number[] | Buffer, dataOut?: Buffer): Promise<ScsiResponse>;
}

export async function prFixture(
  opts: Partial<PersistentReservationsOptions> & { store?: ReservationStore } = {},
  dev: BlockDevice = new MemoryDevice(4 * MIB),
): Promise<PrFixture> {
  const lu = new LogicalUnit(dev, { uuid: UUID });
  const pr = new PersistentReservations({ uuid: UUID, ...opts });
  await pr.start();
  lu.reservations = pr;
  const target = new ScsiTarget(TARGET);
  target.addLun(0, lu);
  let tag = 1;
  const exec = (n: ItNexus, cdbIn: number[] | Buffer, dataOut?: Buffer): Promise<ScsiResponse> => {
    const cdb = Buffer.alloc(16);
    Buffer.from(cdbIn).copy(cdb);
    return target.execute({
      nexus: n,
      lun: 0,
      tag: tag++,
      cdb,
      attribute: 'simple',
      expectedLength: dataOut?.length ?? 0xffff,
      ...(dataOut ? { dataOut } : {}),
    });
  };
  return { lu, target, pr, exec };
}

/** Clears pending unit attentions of `n` with TEST UNIT READY. */
export async function settle(f: PrFixture, ...ns: ItNexus[]): Promise<void> {
  for (const n of ns) {
    for (let i = 0; i < 20; i++) {
      const r = await f.exec(n, [0, 0, 0, 0, 0, 0]);
      if (r.status !== ScsiStatus.CHECK_CONDITION) break;
    }
  }
}

// ---- CDBs ----

export function prinCdb(sa: number, alloc = 0x2000): number[] {
  return [0x5e, sa, 0, 0, 0, 0, 0, (alloc >> 8) & 0xff, alloc & 0xff, 0];
}

export function proutCdb(sa: number, type = 0, len = 24, scope = 0): number[] {
  return [
    0x5f,
    sa,
    (scope << 4) | type,
    0,
    0,
    (len >>> 24) & 0xff,
    (len >> 16) & 0xff,
    (len >> 8) & 0xff,
    len & 0xff,
    0,
  ];
}

export interface ProutArgs {
  key?: bigint;
  sark?: bigint;
  type?: number;
  aptpl?: boolean;
  allTgPt?: boolean;
  specIPt?: TransportId[];
}

export const SA = {
  REGISTER: 0,
  RESERVE: 1,
  RELEASE: 2,
  CLEAR: 3,
  PREEMPT: 4,
  PREEMPT_AND_ABORT: 5,
  REGISTER_AND_IGNORE: 6,
  REGISTER_AND_MOVE: 7,
} as const;

export const TYPE = { WE: 1, EA: 3, WE_RO: 5, EA_RO: 6, WE_AR: 7, EA_AR: 8 } as const;

export function prout(f: PrFixture, n: ItNexus, sa: number, a: ProutArgs = {}): Promise<ScsiResponse> {
  const data = encodeProutParameters({
    key: a.key ?? 0n,
    serviceActionKey: a.sark ?? 0n,
    specIPt: !!a.specIPt,
    allTgPt: !!a.allTgPt,
    aptpl: !!a.aptpl,
    ...(a.specIPt ? { transportIds: a.specIPt } : {}),
  });
  return f.exec(n, proutCdb(sa, a.type ?? 0, data.length), data);
}

export const register = (f: PrFixture, n: ItNexus, sark: bigint, a: ProutArgs = {}) =>
  prout(f, n, SA.REGISTER_AND_IGNORE, { sark, ...a });

// ---- assertions ----

export function good(r: ScsiResponse): void {
  if (r.status === ScsiStatus.GOOD) return;
  const s = r.sense ? decodeSense(r.sense) : undefined;
  assert.fail(
    `expected GOOD, got status 0x${r.status.toString(16)}${s ? ` ${describeSense(s.key, s.asc)}` : ''}`,
  );
}

export function conflict(r: ScsiResponse): void {
  assert.equal(
    r.status,
    ScsiStatus.RESERVATION_CONFLICT,
    `expected RESERVATION CONFLICT, got 0x${r.status.toString(16)}`,
  );
}

export function sense(
  r: ScsiResponse,
  key: number,
  asc: number,
  field?: { cdb: boolean; byte: number; bit?: number },
): void {
  assert.equal(r.status, ScsiStatus.CHECK_CONDITION, `status 0x${r.status.toString(16)}`);
  const s = decodeSense(r.sense!);
  assert.equal(describeSense(s.key, s.asc), describeSense(key, asc));
  if (field) {
    const sks = s.senseKeySpecific;
    assert.ok(sks !== undefined, 'field pointer missing');
    assert.equal(!!(sks & 0x400000), field.cdb, 'C/D');
    assert.equal(sks & 0xffff, field.byte, 'field pointer byte');
    if (field.bit !== undefined) assert.equal((sks >> 16) & 7, field.bit, 'bit pointer');
  }
}

export const illegal = (r: ScsiResponse, asc: number, field?: { cdb: boolean; byte: number; bit?: number }) =>
  sense(r, SenseKey.ILLEGAL_REQUEST, asc, field);

export { ASC, SenseKey, ScsiStatus };

export const read10 = [0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0];
export const write10 = [0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0];
export const block = Buffer.alloc(512, 0xa5);

// ---- PRIN readers ----

import { decodeReadKeys } from '../../../src/scsi/reservations/data/read-keys.js';
import { decodeReadReservation } from '../../../src/scsi/reservations/data/read-reservation.js';
import { decodeFullStatus } from '../../../src/scsi/reservations/data/read-full-status.js';
import { decodeReportCapabilities } from '../../../src/scsi/reservations/data/report-capabilities.js';

/** An I_T nexus that never registers: reads state without consuming anyone's unit attentions. */
const OBSERVER = nx('observer', 0x99);

async function prinData(f: PrFixture, _n: ItNexus, sa: number): Promise<Buffer> {
  await settle(f, OBSERVER);
  const r = await f.exec(OBSERVER, prinCdb(sa));
  good(r);
  return r.dataIn ?? Buffer.alloc(0);
}

export const readKeys = async (f: PrFixture, n: ItNexus) => decodeReadKeys(await prinData(f, n, 0));
export const readReservation = async (f: PrFixture, n: ItNexus) =>
  decodeReadReservation(await prinData(f, n, 1));
export const reportCapabilities = async (f: PrFixture, n: ItNexus) =>
  decodeReportCapabilities(await prinData(f, n, 2));
export const fullStatus = async (f: PrFixture, n: ItNexus) => decodeFullStatus(await prinData(f, n, 3));

/** The unit attentions queued for `n`, oldest first. */
export const uas = (f: PrFixture, n: ItNexus): readonly number[] => f.lu.nexusState(n).ua.list();
