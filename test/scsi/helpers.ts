/**
 * Test helpers for the SCSI core: I_T nexuses, a target over a MemoryDevice, a command runner
 * that fills in the transport fields, and sense assertions by name.
 */
import assert from 'node:assert/strict';
import { MemoryDevice, type BlockDevice } from '../../src/block/index.js';
import {
  ASC,
  decodeSense,
  describeSense,
  LogicalUnit,
  ScsiStatus,
  ScsiTarget,
  SenseKey,
  type ItNexus,
  type LogicalUnitOptions,
  type ScsiResponse,
  type TaskAttribute,
} from '../../src/scsi/index.js';

export const TARGET = 'iqn.2026-11.io.vdisk:test';
export const UUID = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';

export function nexus(isid = 1, targetName = TARGET): ItNexus {
  const initiatorName = 'iqn.2026-11.io.vdisk:initiator';
  const initiatorPort = `${initiatorName},i,0x${isid.toString(16).padStart(12, '0')}`;
  const targetPort = `${targetName},t,0x0001`;
  return {
    key: `${initiatorPort}|${targetPort}`,
    initiatorName,
    initiatorPort,
    targetName,
    targetPort,
    relativeTargetPortId: 1,
    targetPortGroup: 1,
    protocolId: 5,
  };
}

export interface Fixture {
  dev: BlockDevice;
  lu: LogicalUnit;
  target: ScsiTarget;
  a: ItNexus;
  b: ItNexus;
}

export const MIB = 1024 * 1024;

export function fixture(
  opts: Partial<LogicalUnitOptions> = {},
  dev: BlockDevice = new MemoryDevice(16 * MIB),
): Fixture {
  const lu = new LogicalUnit(dev, { uuid: UUID, ...opts });
  const target = new ScsiTarget(TARGET);
  target.addLun(0, lu);
  return { dev, lu, target, a: nexus(1), b: nexus(2) };
}

let nextTag = 1;

export interface RunOptions {
  nexus?: ItNexus;
  lun?: number;
  dataOut?: Buffer;
  attribute?: TaskAttribute;
  tag?: number;
}

export function run(t: ScsiTarget, cdb: number[] | Buffer, o: RunOptions = {}): Promise<ScsiResponse> {
  const buf = Buffer.isBuffer(cdb) ? cdb : Buffer.from(cdb);
  const padded = Buffer.alloc(Math.max(16, buf.length));
  buf.copy(padded);
  return t.execute({
    nexus: o.nexus ?? nexus(1),
    lun: o.lun ?? 0,
    tag: o.tag ?? nextTag++,
    cdb: padded,
    attribute: o.attribute ?? 'simple',
    expectedLength: o.dataOut?.length ?? 0,
    ...(o.dataOut ? { dataOut: o.dataOut } : {}),
  });
}

/** Runs TEST UNIT READY until no unit attention is pending (as iscsi-test-cu's setup does). */
export async function clearUa(t: ScsiTarget, n: ItNexus, lun = 0): Promise<void> {
  for (let i = 0; i < 32; i++) {
    const r = await run(t, [0, 0, 0, 0, 0, 0], { nexus: n, lun });
    if (r.status === ScsiStatus.GOOD) return;
  }
  assert.fail('unit attentions did not clear');
}

export async function ready(opts: Partial<LogicalUnitOptions> = {}, dev?: BlockDevice): Promise<Fixture> {
  const f = fixture(opts, dev);
  await clearUa(f.target, f.a);
  await clearUa(f.target, f.b);
  return f;
}

export function good(r: ScsiResponse): void {
  assert.equal(
    r.status,
    ScsiStatus.GOOD,
    r.sense
      ? `expected GOOD, got ${describeSense(decodeSense(r.sense).key, decodeSense(r.sense).asc)}`
      : undefined,
  );
}

/** Asserts CHECK CONDITION with the given key/ASC (and field pointer when given). */
export function checkCondition(
  r: ScsiResponse,
  key: number,
  asc: number,
  field?: { cdb: boolean; byte: number; bit?: number },
): void {
  assert.equal(r.status, ScsiStatus.CHECK_CONDITION, `status 0x${r.status.toString(16)}`);
  assert.ok(r.sense);
  const s = decodeSense(r.sense);
  assert.equal(describeSense(s.key, s.asc), describeSense(key, asc));
  if (field) {
    assert.ok(s.senseKeySpecific !== undefined, 'sense-key specific field pointer missing');
    const sks = s.senseKeySpecific;
    assert.equal(!!(sks & 0x400000), field.cdb, 'C/D');
    assert.equal(sks & 0xffff, field.byte, 'field pointer byte');
    if (field.bit !== undefined) {
      assert.ok(sks & 0x080000, 'BPV');
      assert.equal((sks >> 16) & 7, field.bit, 'bit pointer');
    }
  }
}

export const invalidField = (r: ScsiResponse, byte: number, bit?: number): void =>
  checkCondition(r, SenseKey.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, {
    cdb: true,
    byte,
    ...(bit !== undefined ? { bit } : {}),
  });

export function cdb10(op: number, lba: number, len: number, flags = 0): number[] {
  return [
    op,
    flags,
    (lba >>> 24) & 0xff,
    (lba >> 16) & 0xff,
    (lba >> 8) & 0xff,
    lba & 0xff,
    0,
    (len >> 8) & 0xff,
    len & 0xff,
    0,
  ];
}

export function cdb16(op: number, lba: number | bigint, len: number, flags = 0): number[] {
  const b = Buffer.alloc(16);
  b[0] = op;
  b[1] = flags;
  b.writeBigUInt64BE(BigInt(lba), 2);
  b.writeUInt32BE(len >>> 0, 10);
  return [...b];
}

export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}
