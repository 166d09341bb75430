/**
 * Which commands a reservation lets through: a pure function of (state, I_T nexus, command).
 *
 * Persistent reservations follow SPC-4 §5.13.1 Table 63 and SBC-3 §4.17 Table 13. Every command
 * falls in one class; the class and the reservation decide, for an I_T nexus that is not a
 * reservation holder (holders are never in conflict):
 *
 *   class     | WE        | EA        | WE_RO / WE_AR        | EA_RO / EA_AR
 *             | any       | any       | registered | not     | registered | not
 *   ----------+-----------+-----------+------------+---------+------------+-----
 *   always    | allowed   | allowed   | allowed    | allowed | allowed    | allowed
 *   read      | allowed   | conflict  | allowed    | allowed | allowed    | conflict
 *   write     | conflict  | conflict  | allowed    | conflict| allowed    | conflict
 *   pr        | allowed (PERSISTENT RESERVE IN/OUT: OUT checks keys itself, §5.13.5)
 *   spc2      | allowed here; RESERVE/RELEASE apply §5.13.3 themselves (spc2.ts)
 *
 * - always: INQUIRY, REPORT LUNS, REQUEST SENSE, TEST UNIT READY, READ CAPACITY (10)/(16),
 *   LOG SENSE, REPORT TARGET PORT GROUPS, READ MEDIA SERIAL NUMBER, PREVENT ALLOW MEDIUM REMOVAL
 *   with PREVENT = 00b, START STOP UNIT with START = 1 and POWER CONDITION = 0.
 * - read: READ, VERIFY, PRE-FETCH, GET LBA STATUS, READ DEFECT DATA.
 * - write: everything that changes the medium or the LU's state, and the rest Table 63 lists as
 *   Conflict under Write Exclusive (MODE SENSE, REPORT SUPPORTED OPERATION CODES, REPORT
 *   SUPPORTED TASK MANAGEMENT FUNCTIONS, READ/WRITE BUFFER, RECEIVE COPY RESULTS, ...). A command
 *   missing from the table counts as write: the safe side.
 *
 * SPC-2 reservations (SPC-2 §5.5.1, §7.21): while one I_T nexus holds the logical unit, every
 * other I_T nexus conflicts except for INQUIRY, REPORT LUNS, REQUEST SENSE, LOG SENSE, PREVENT
 * ALLOW MEDIUM REMOVAL with PREVENT = 00b and RELEASE (which is then a no-op); and "all
 * PERSISTENT RESERVE IN and PERSISTENT RESERVE OUT commands shall conflict regardless of
 * initiator" — the holder's included.
 *
 * The table is keyed by the command names of the core's command table (commands/table.ts);
 * a test checks that every name there has a row here.
 */
import { admitsRegistrants, isExclusiveAccess } from './pr-types.js';
import { findRegistration, isHolder, type NexusId, type PrState } from './state.js';

export type CommandClass = 'always' | 'read' | 'write' | 'pr' | 'spc2';

type Classifier = CommandClass | ((cdb: Buffer) => CommandClass);

/** PREVENT ALLOW MEDIUM REMOVAL: PREVENT (byte 4 bits 1..0) = 00b is always allowed. */
const preventAllow = (cdb: Buffer): CommandClass => ((cdb[4]! & 3) === 0 ? 'always' : 'write');
/** START STOP UNIT: START = 1 with POWER CONDITION = 0 is allowed (SBC-3 Table 13). */
const startStop = (cdb: Buffer): CommandClass => ((cdb[4]! & 0xf1) === 0x01 ? 'always' : 'write');

/** Command name (commands/table.ts) -> class. The one table; see the header for the meaning. */
export const COMMAND_CLASS: Readonly<Record<string, Classifier>> = {
  // SPC-4 Table 63
  INQUIRY: 'always',
  'REPORT LUNS': 'always',
  'REQUEST SENSE': 'always',
  'TEST UNIT READY': 'always',
  'LOG SENSE': 'always',
  'REPORT TARGET PORT GROUPS': 'always',
  'READ MEDIA SERIAL NUMBER': 'always',
  'PREVENT ALLOW MEDIUM REMOVAL': preventAllow,
  'PERSISTENT RESERVE IN': 'pr',
  'PERSISTENT RESERVE OUT': 'pr',
  'RESERVE (6)': 'spc2',
  'RESERVE (10)': 'spc2',
  'RELEASE (6)': 'spc2',
  'RELEASE (10)': 'spc2',
  'MODE SENSE (6)': 'write',
  'MODE SENSE (10)': 'write',
  'MODE SELECT (6)': 'write',
  'MODE SELECT (10)': 'write',
  'LOG SELECT': 'write',
  'READ BUFFER': 'write',
  'WRITE BUFFER': 'write',
  'RECEIVE DIAGNOSTIC RESULTS': 'write',
  'SEND DIAGNOSTIC': 'write',
  'REPORT SUPPORTED OPERATION CODES': 'write',
  'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS': 'write',
  'EXTENDED COPY': 'write',
  'RECEIVE COPY RESULTS': 'write',
  'SET TARGET PORT GROUPS': 'write',
  // SBC-3 Table 13
  'READ CAPACITY (10)': 'always',
  'READ CAPACITY (16)': 'always',
  'START STOP UNIT': startStop,
  'READ (6)': 'read',
  'READ (10)': 'read',
  'READ (12)': 'read',
  'READ (16)': 'read',
  'VERIFY (10)': 'read',
  'VERIFY (12)': 'read',
  'VERIFY (16)': 'read',
  'PRE-FETCH (10)': 'read',
  'PRE-FETCH (16)': 'read',
  'GET LBA STATUS': 'read',
  'READ DEFECT DATA (10)': 'read',
  'READ DEFECT DATA (12)': 'read',
  'WRITE (6)': 'write',
  'WRITE (10)': 'write',
  'WRITE (12)': 'write',
  'WRITE (16)': 'write',
  'WRITE AND VERIFY (10)': 'write',
  'WRITE AND VERIFY (12)': 'write',
  'WRITE AND VERIFY (16)': 'write',
  'WRITE SAME (10)': 'write',
  'WRITE SAME (16)': 'write',
  'ORWRITE (16)': 'write',
  'COMPARE AND WRITE': 'write',
  UNMAP: 'write',
  'SYNCHRONIZE CACHE (10)': 'write',
  'SYNCHRONIZE CACHE (16)': 'write',
  'FORMAT UNIT': 'write',
  SANITIZE: 'write',
};

/** Commands an SPC-2 reservation lets through from other I_T nexuses. */
const SPC2_ALLOWED: ReadonlySet<string> = new Set([
  'INQUIRY',
  'REPORT LUNS',
  'REQUEST SENSE',
  'LOG SENSE',
  'RELEASE (6)',
  'RELEASE (10)',
]);

export function classify(commandName: string, cdb: Buffer): CommandClass {
  const c = COMMAND_CLASS[commandName] ?? 'write';
  return typeof c === 'function' ? c(cdb) : c;
}

/** An SPC-2 reservation: held by one I_T nexus (by ItNexus.key), never persistent. */
export interface Spc2Reservation {
  readonly holderKey: string;
}

export interface ConflictInput {
  readonly state: PrState;
  readonly spc2: Spc2Reservation | undefined;
  readonly nexus: NexusId;
  readonly nexusKey: string;
  readonly commandName: string;
  readonly cdb: Buffer;
}

/** True when the command must end with RESERVATION CONFLICT. */
export function isConflict(x: ConflictInput): boolean {
  const cls = classify(x.commandName, x.cdb);
  if (x.spc2) {
    if (cls === 'pr') return true;
    if (x.spc2.holderKey === x.nexusKey) return false;
    if (SPC2_ALLOWED.has(x.commandName)) return false;
    return !(x.commandName === 'PREVENT ALLOW MEDIUM REMOVAL' && cls === 'always');
  }
  return persistentConflict(x.state, x.nexus, cls);
}

/** SPC-4 Table 63 for one class (exported for the exhaustive tests). */
export function persistentConflict(s: PrState, n: NexusId, cls: CommandClass): boolean {
  const res = s.reservation;
  if (!res || cls === 'always' || cls === 'pr' || cls === 'spc2') return false;
  if (isHolder(s, n)) return false;
  if (admitsRegistrants(res.type) && findRegistration(s, n)) return false;
  if (cls === 'read') return isExclusiveAccess(res.type);
  return true;
}
