/**
 * Commands without a medium (SBC-3 §4.13, removable LUs only): after START STOP UNIT ejected the
 * medium, every command that needs it fails with NOT READY / MEDIUM NOT PRESENT. What works
 * without a medium: identification and reporting, sense, mode parameters, START STOP UNIT and
 * PREVENT ALLOW MEDIUM REMOVAL themselves, and the reservation commands.
 */
import { ScsiError } from '../errors.js';
import type { LogicalUnit } from '../logical-unit.js';
import { ASC, SenseKey } from '../sense-codes.js';

const WITHOUT_MEDIUM: ReadonlySet<string> = new Set([
  'INQUIRY',
  'REPORT LUNS',
  'REQUEST SENSE',
  'REPORT SUPPORTED OPERATION CODES',
  'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS',
  'REPORT TARGET PORT GROUPS',
  'MODE SENSE (6)',
  'MODE SENSE (10)',
  'MODE SELECT (6)',
  'MODE SELECT (10)',
  'START STOP UNIT',
  'PREVENT ALLOW MEDIUM REMOVAL',
  'PERSISTENT RESERVE IN',
  'PERSISTENT RESERVE OUT',
  'RESERVE (6)',
  'RELEASE (6)',
  'RESERVE (10)',
  'RELEASE (10)',
]);

export function mediumRefusal(lu: LogicalUnit, commandName: string): ScsiError | undefined {
  if (lu.mediumLoaded || WITHOUT_MEDIUM.has(commandName)) return undefined;
  return new ScsiError(SenseKey.NOT_READY, ASC.MEDIUM_NOT_PRESENT);
}
