/**
 * The command table: the one definition of every command the core implements (STYLE.md
 * convention 6: "SCSI commands dispatch through a table keyed by opcode with one place for
 * unknown ones"). The dispatcher looks entries up by opcode (and service action), REPORT
 * SUPPORTED OPERATION CODES lists them, and names come from here.
 *
 * Issue 6 commands come from their own folders: COMPARE AND WRITE (89h, caw/CAW_COMMANDS),
 * EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (83h/84h, xcopy/XCOPY_COMMANDS). The reservation
 * commands (PERSISTENT RESERVE IN/OUT 5Eh/5Fh, RESERVE/RELEASE (6) and (10) 16h/17h/56h/57h) are
 * in the table but offered only by an LU with a reservation engine attached.
 *
 * Usage data (SPC-4 §6.35.3): byte 0 the opcode, service action bits hold the service action,
 * other bytes the mask of bits the device server looks at. The CONTROL byte is all zero: NACA
 * is not supported (NormACA = 0), so a CDB with NACA = 1 fails INVALID FIELD IN CDB.
 */
import { decodeBlockCdb } from '../cdb/block-cdb.js';
import { MODE_SELECT10, MODE_SELECT6, MODE_SENSE10, MODE_SENSE6 } from '../cdb/mode-cdb.js';
import { CAW_COMMANDS } from '../caw/index.js';
import type { LogicalUnit } from '../logical-unit.js';
import { getLbaStatus, readCapacity10, readCapacity16 } from './capacity.js';
import { preFetch, synchronizeCache } from './cache.js';
import type { CommandEntry } from './command.js';
import { RESERVATION_COMMANDS } from '../reservations/commands.js';
import { readDefectData } from './defects.js';
import { inquiry } from './inquiry.js';
import { modeSelect, modeSense } from './mode.js';
import { orWrite, read, transferBlocks, verify, write, writeAndVerify } from './read-write.js';
import { reportLuns, reportSupportedOpcodes, reportSupportedTmf, reportTargetPortGroups } from './report.js';
import { unmap, writeSame } from './provisioning.js';
import { XCOPY_COMMANDS } from '../xcopy/index.js';
import { SANITIZE } from '../cdb/provisioning-cdb.js';
import { sanitize, SanitizeAction } from './sanitize.js';
import { preventAllowMediumRemoval, requestSense, startStopUnit, testUnitReady } from './unit.js';

const FF4 = [0xff, 0xff, 0xff, 0xff];
const FF8 = [...FF4, ...FF4];

/** Timeouts in seconds (nominal, recommended). */
const QUICK = { nominal: 0, recommended: 10 };
const IO = { nominal: 1, recommended: 30 };
const FLUSH = { nominal: 5, recommended: 60 };
const BULK = { nominal: 10, recommended: 120 };

const none = (): number => 0;
const byte4 = (cdb: Buffer): number => cdb[4]!;
const u16at = (off: number) => (cdb: Buffer) => cdb.readUInt16BE(off);
const u32at = (off: number) => (cdb: Buffer) => cdb.readUInt32BE(off);
const blocksOf = (cdb: Buffer, bs: number): number => transferBlocks(decodeBlockCdb(cdb)) * bs;
const verifyLength = (cdb: Buffer, bs: number): number => {
  const bytchk = (cdb[1]! >> 1) & 3;
  return bytchk === 1 ? decodeBlockCdb(cdb).length * bs : bytchk === 3 ? bs : 0;
};
const writeVerifyLength = (cdb: Buffer, bs: number): number =>
  ((cdb[1]! >> 1) & 3) === 3 ? bs : decodeBlockCdb(cdb).length * bs;
const writeSameLength = (cdb: Buffer, bs: number): number => (cdb[0] === 0x93 && cdb[1]! & 1 ? 0 : bs);

function rw(
  name: string,
  opcode: number,
  size: 6 | 10 | 12 | 16,
  flags: number,
  direction: 'in' | 'out',
  handler: CommandEntry['handler'],
  dataLength: CommandEntry['dataLength'] = blocksOf,
): CommandEntry {
  const usage =
    size === 6
      ? [opcode, 0x1f, 0xff, 0xff, 0xff, 0x00]
      : size === 10
        ? [opcode, flags, ...FF4, 0x1f, 0xff, 0xff, 0x00]
        : size === 12
          ? [opcode, flags, ...FF4, ...FF4, 0x1f, 0x00]
          : [opcode, flags, ...FF8, ...FF4, 0x1f, 0x00];
  return { name, opcode, cdbLength: size, usage, direction, dataLength, timeout: IO, handler };
}

function ranged(
  name: string,
  opcode: number,
  size: 10 | 16,
  flags: number,
  handler: CommandEntry['handler'],
  timeout = FLUSH,
): CommandEntry {
  return { ...rw(name, opcode, size, flags, 'in', handler, none), direction: 'none', timeout };
}

/** DPO | FUA | FUA_NV, plus RARC for reads (SBC-3 Tables 33, 97). */
const READ_FLAGS = 0x1e;
const WRITE_FLAGS = 0x1a;
/** IMMED, and SYNC_NV (SBC-2; obsolete in SBC-3, still sent by some initiators, ignored). */
const SYNC_FLAGS = 0x06;
/** DPO | BYTCHK (2 bits). */
const VERIFY_FLAGS = 0x16;

/** Every command, in opcode and service action order (REPORT SUPPORTED OPERATION CODES order). */
export const COMMANDS: readonly CommandEntry[] = (
  [
    {
      name: 'TEST UNIT READY',
      opcode: 0x00,
      cdbLength: 6,
      usage: [0x00, 0, 0, 0, 0, 0],
      direction: 'none',
      dataLength: none,
      timeout: QUICK,
      handler: testUnitReady,
    },
    {
      name: 'REQUEST SENSE',
      opcode: 0x03,
      cdbLength: 6,
      usage: [0x03, 0x01, 0, 0, 0xff, 0],
      direction: 'in',
      dataLength: byte4,
      timeout: QUICK,
      uaExempt: true,
      handler: requestSense,
    },
    rw('READ (6)', 0x08, 6, 0, 'in', read),
    rw('WRITE (6)', 0x0a, 6, 0, 'out', write),
    {
      name: 'INQUIRY',
      opcode: 0x12,
      cdbLength: 6,
      usage: [0x12, 0x01, 0xff, 0xff, 0xff, 0],
      direction: 'in',
      dataLength: u16at(3),
      timeout: QUICK,
      uaExempt: true,
      handler: inquiry,
    },
    {
      name: 'MODE SELECT (6)',
      opcode: MODE_SELECT6,
      cdbLength: 6,
      usage: [MODE_SELECT6, 0x11, 0, 0, 0xff, 0],
      direction: 'out',
      dataLength: byte4,
      timeout: QUICK,
      handler: modeSelect,
    },
    {
      name: 'MODE SENSE (6)',
      opcode: MODE_SENSE6,
      cdbLength: 6,
      usage: [MODE_SENSE6, 0x08, 0xff, 0xff, 0xff, 0],
      direction: 'in',
      dataLength: byte4,
      timeout: QUICK,
      handler: modeSense,
    },
    {
      name: 'START STOP UNIT',
      opcode: 0x1b,
      cdbLength: 6,
      usage: [0x1b, 0x01, 0, 0x0f, 0xf7, 0],
      direction: 'none',
      dataLength: none,
      timeout: QUICK,
      handler: startStopUnit,
    },
    {
      name: 'PREVENT ALLOW MEDIUM REMOVAL',
      opcode: 0x1e,
      cdbLength: 6,
      usage: [0x1e, 0, 0, 0, 0x03, 0],
      direction: 'none',
      dataLength: none,
      timeout: QUICK,
      handler: preventAllowMediumRemoval,
    },
    {
      name: 'READ CAPACITY (10)',
      opcode: 0x25,
      cdbLength: 10,
      usage: [0x25, 0, ...FF4, 0, 0, 0x01, 0],
      direction: 'in',
      dataLength: () => 8,
      timeout: QUICK,
      handler: readCapacity10,
    },
    rw('READ (10)', 0x28, 10, READ_FLAGS, 'in', read),
    rw('WRITE (10)', 0x2a, 10, WRITE_FLAGS, 'out', write),
    rw('WRITE AND VERIFY (10)', 0x2e, 10, VERIFY_FLAGS, 'out', writeAndVerify, writeVerifyLength),
    rw('VERIFY (10)', 0x2f, 10, VERIFY_FLAGS, 'out', verify, verifyLength),
    {
      name: 'READ DEFECT DATA (10)',
      opcode: 0x37,
      cdbLength: 10,
      usage: [0x37, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0],
      direction: 'in',
      dataLength: u16at(7),
      timeout: QUICK,
      handler: readDefectData,
    },
    ranged('PRE-FETCH (10)', 0x34, 10, 0x02, preFetch, IO),
    ranged('SYNCHRONIZE CACHE (10)', 0x35, 10, SYNC_FLAGS, synchronizeCache),
    rw('WRITE SAME (10)', 0x41, 10, 0x18, 'out', writeSame, writeSameLength),
    {
      name: 'UNMAP',
      opcode: 0x42,
      cdbLength: 10,
      usage: [0x42, 0x01, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0],
      direction: 'out',
      dataLength: u16at(7),
      timeout: BULK,
      available: (lu: LogicalUnit) => lu.canUnmap,
      handler: unmap,
    },
    {
      name: 'MODE SELECT (10)',
      opcode: MODE_SELECT10,
      cdbLength: 10,
      usage: [MODE_SELECT10, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0],
      direction: 'out',
      dataLength: u16at(7),
      timeout: QUICK,
      handler: modeSelect,
    },
    {
      name: 'MODE SENSE (10)',
      opcode: MODE_SENSE10,
      cdbLength: 10,
      usage: [MODE_SENSE10, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0],
      direction: 'in',
      dataLength: u16at(7),
      timeout: QUICK,
      handler: modeSense,
    },
    rw('READ (16)', 0x88, 16, READ_FLAGS, 'in', read),
    rw('WRITE (16)', 0x8a, 16, WRITE_FLAGS, 'out', write),
    rw('ORWRITE (16)', 0x8b, 16, WRITE_FLAGS, 'out', orWrite),
    rw('WRITE AND VERIFY (16)', 0x8e, 16, VERIFY_FLAGS, 'out', writeAndVerify, writeVerifyLength),
    rw('VERIFY (16)', 0x8f, 16, VERIFY_FLAGS, 'out', verify, verifyLength),
    ranged('PRE-FETCH (16)', 0x90, 16, 0x02, preFetch, IO),
    ranged('SYNCHRONIZE CACHE (16)', 0x91, 16, SYNC_FLAGS, synchronizeCache),
    rw('WRITE SAME (16)', 0x93, 16, 0x19, 'out', writeSame, writeSameLength),
    {
      name: 'READ CAPACITY (16)',
      opcode: 0x9e,
      serviceAction: 0x10,
      cdbLength: 16,
      usage: [0x9e, 0x10, ...FF8, ...FF4, 0x01, 0],
      direction: 'in',
      dataLength: u32at(10),
      timeout: QUICK,
      handler: readCapacity16,
    },
    {
      name: 'GET LBA STATUS',
      opcode: 0x9e,
      serviceAction: 0x12,
      cdbLength: 16,
      usage: [0x9e, 0x12, ...FF8, ...FF4, 0, 0],
      direction: 'in',
      dataLength: u32at(10),
      timeout: IO,
      handler: getLbaStatus,
    },
    {
      name: 'REPORT LUNS',
      opcode: 0xa0,
      cdbLength: 12,
      usage: [0xa0, 0, 0xff, 0, 0, 0, ...FF4, 0, 0],
      direction: 'in',
      dataLength: u32at(6),
      timeout: QUICK,
      uaExempt: true,
      handler: reportLuns,
    },
    {
      name: 'REPORT TARGET PORT GROUPS',
      opcode: 0xa3,
      serviceAction: 0x0a,
      cdbLength: 12,
      usage: [0xa3, 0xea, 0, 0, 0, 0, ...FF4, 0, 0],
      direction: 'in',
      dataLength: u32at(6),
      timeout: QUICK,
      handler: reportTargetPortGroups,
    },
    {
      name: 'REPORT SUPPORTED OPERATION CODES',
      opcode: 0xa3,
      serviceAction: 0x0c,
      cdbLength: 12,
      usage: [0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, ...FF4, 0, 0],
      direction: 'in',
      dataLength: u32at(6),
      timeout: QUICK,
      handler: reportSupportedOpcodes,
    },
    {
      name: 'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS',
      opcode: 0xa3,
      serviceAction: 0x0d,
      cdbLength: 12,
      usage: [0xa3, 0x0d, 0x80, 0, 0, 0, ...FF4, 0, 0],
      direction: 'in',
      dataLength: u32at(6),
      timeout: QUICK,
      handler: reportSupportedTmf,
    },
    rw('READ (12)', 0xa8, 12, READ_FLAGS, 'in', read),
    rw('WRITE (12)', 0xaa, 12, WRITE_FLAGS, 'out', write),
    rw('WRITE AND VERIFY (12)', 0xae, 12, VERIFY_FLAGS, 'out', writeAndVerify, writeVerifyLength),
    rw('VERIFY (12)', 0xaf, 12, VERIFY_FLAGS, 'out', verify, verifyLength),
    {
      name: 'READ DEFECT DATA (12)',
      opcode: 0xb7,
      cdbLength: 12,
      usage: [0xb7, 0x1f, ...FF4, ...FF4, 0, 0],
      direction: 'in',
      dataLength: u32at(6),
      timeout: QUICK,
      handler: readDefectData,
    },
    ...[SanitizeAction.BLOCK_ERASE, SanitizeAction.EXIT_FAILURE_MODE].map((sa): CommandEntry => ({
      name: 'SANITIZE',
      opcode: SANITIZE,
      serviceAction: sa,
      cdbLength: 10,
      usage: [SANITIZE, 0xa0 | sa, 0, 0, 0, 0, 0, 0xff, 0xff, 0],
      direction: 'out',
      dataLength: u16at(7),
      timeout: { nominal: 60, recommended: 3600 },
      available: (lu: LogicalUnit) => lu.canUnmap,
      handler: sanitize,
    })),
    // PERSISTENT RESERVE IN/OUT and SPC-2 RESERVE/RELEASE (issue 6): offered by an LU whose
    // `reservations` is a PersistentReservations engine, INVALID COMMAND OPERATION CODE elsewhere.
    ...RESERVATION_COMMANDS,
    // COMPARE AND WRITE; EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (issue 6).
    ...CAW_COMMANDS,
    ...XCOPY_COMMANDS,
  ] satisfies CommandEntry[]
).sort((a, b) => a.opcode - b.opcode || (a.serviceAction ?? 0) - (b.serviceAction ?? 0));

/** Opcodes whose byte 1 bits 4..0 hold a service action (SERVICE ACTION IN (16), MAINTENANCE IN). */
export const SERVICE_ACTION_OPCODES: ReadonlySet<number> = new Set(
  COMMANDS.filter((e) => e.serviceAction !== undefined).map((e) => e.opcode),
);

const BY_KEY = new Map<number, CommandEntry>(
  COMMANDS.map((e) => [(e.opcode << 8) | (e.serviceAction ?? 0), e]),
);

export type Lookup =
  { kind: 'found'; entry: CommandEntry } | { kind: 'unknown-opcode' } | { kind: 'unknown-service-action' };

export function lookupCommand(cdb: Buffer): Lookup {
  const opcode = cdb[0]!;
  if (SERVICE_ACTION_OPCODES.has(opcode)) {
    const e = BY_KEY.get((opcode << 8) | (cdb[1]! & 0x1f));
    return e ? { kind: 'found', entry: e } : { kind: 'unknown-service-action' };
  }
  const e = BY_KEY.get(opcode << 8);
  return e ? { kind: 'found', entry: e } : { kind: 'unknown-opcode' };
}

/**
 * The commands a logical unit offers: UNMAP only where provisioning allows it, the reservation
 * commands only once a reservation engine is attached (`lu.reservations`, which may change after
 * the LU is built, so this is not cached; only REPORT SUPPORTED OPERATION CODES asks).
 */
export function commandsFor(lu: LogicalUnit): readonly CommandEntry[] {
  return COMMANDS.filter((e) => !e.available || e.available(lu));
}
