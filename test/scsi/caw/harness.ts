/**
 * Runs COMPARE AND WRITE / EXTENDED COPY / RECEIVE COPY RESULTS CDBs against a test target. Once
 * the core's command table carries CAW_COMMANDS and XCOPY_COMMANDS, every command goes through
 * ScsiTarget like any other (dispatch, usage data checks, sense format); until then the command
 * is dispatched here the same way the core's dispatcher does it (lookup by opcode and service
 * action, CDB usage data check with field pointer, handler, CheckCondition translation), so the
 * tests assert the same behaviour either way.
 */
import { lookupCommand } from '../../../src/scsi/commands/table.js';
import { checkConditionFor } from '../../../src/scsi/check-condition.js';
import { invalidCdbField } from '../../../src/scsi/errors.js';
import type { CommandEntry } from '../../../src/scsi/commands/command.js';
import { CAW_COMMANDS } from '../../../src/scsi/caw/index.js';
import { XCOPY_COMMANDS } from '../../../src/scsi/xcopy/index.js';
import { ScsiStatus, type ScsiResponse } from '../../../src/scsi/index.js';
import { nexus, run, type Fixture, type RunOptions } from '../helpers.js';

const OURS: readonly CommandEntry[] = [...CAW_COMMANDS, ...XCOPY_COMMANDS];

/** Whether the core's table already dispatches our commands. */
export function wired(): boolean {
  return OURS.every((e) => {
    const cdb = Buffer.alloc(16);
    cdb[0] = e.opcode;
    if (e.serviceAction !== undefined) cdb[1] = e.serviceAction;
    return lookupCommand(cdb).kind === 'found';
  });
}

let tag = 100000;

export async function exec(f: Fixture, cdb: Buffer, o: RunOptions = {}): Promise<ScsiResponse> {
  const entry = OURS.find(
    (e) => e.opcode === cdb[0] && (e.serviceAction === undefined || e.serviceAction === (cdb[1]! & 0x1f)),
  );
  if (!entry || wired()) return run(f.target, cdb, o);
  const lu = f.target.getLun(o.lun ?? 0)!;
  const n = o.nexus ?? nexus(1);
  const dataOut = o.dataOut;
  const cmd = {
    nexus: n,
    lun: o.lun ?? 0,
    tag: tag++,
    cdb,
    attribute: 'simple' as const,
    expectedLength: dataOut?.length ?? 0,
    ...(dataOut ? { dataOut } : {}),
  };
  const transferLength = entry.dataLength(cdb, lu.blockSize);
  try {
    const saBits = entry.serviceAction !== undefined ? 0x1f : 0;
    for (let i = 1; i < entry.cdbLength; i++) {
      const bad = cdb[i]! & ~(entry.usage[i]! | (i === 1 ? saBits : 0)) & 0xff;
      if (bad) throw invalidCdbField(i, 31 - Math.clz32(bad));
    }
    const res = await entry.handler({
      lu,
      cmd,
      cdb,
      nexus: n,
      state: lu.nexusState(n),
      target: { name: f.target.name, luns: () => f.target.luns(), clearReportedLunsChanged: () => {} },
      commands: [],
    });
    const out: ScsiResponse = { status: res.status ?? ScsiStatus.GOOD, transferLength };
    if (res.dataIn) out.dataIn = res.dataIn.subarray(0, Math.min(res.dataIn.length, transferLength));
    return out;
  } catch (err) {
    return checkConditionFor(err, lu.mode.dSense, transferLength);
  }
}

/** READ (16) / WRITE (16) CDBs. */
export function rw16(opcode: 0x88 | 0x8a, lba: number, blocks: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = opcode;
  b.writeBigUInt64BE(BigInt(lba), 2);
  b.writeUInt32BE(blocks, 10);
  return b;
}
