/**
 * TEST UNIT READY (SPC-4 §6.37), REQUEST SENSE (§6.29), START STOP UNIT (SBC-3 §5.25) and
 * PREVENT ALLOW MEDIUM REMOVAL (SBC-3 §5.14, per I_T nexus).
 *
 * REQUEST SENSE returns the oldest pending unit attention of the nexus (and clears it), else NOT
 * READY / SANITIZE IN PROGRESS while a sanitize runs, else NO SENSE / NO ADDITIONAL SENSE
 * INFORMATION with GOOD status: the core delivers every other sense with its command
 * (autosense), so nothing else is ever pending. DESC = 1 asks for
 * descriptor format.
 *
 * The medium is never stopped: START STOP UNIT with LOEJ = 0 is accepted and changes nothing (as
 * LIO does). LOEJ = 1 ejects (START = 0) or loads (START = 1) the medium of a removable LU, unless
 * some nexus prevents removal (MEDIUM REMOVAL PREVENTED); without a medium, medium access fails
 * with NOT READY / MEDIUM NOT PRESENT (medium.ts). On a non-removable LU (the default) LOEJ = 1 is
 * INVALID FIELD IN CDB (libiscsi's StartStopUnit.Simple expects a non-removable LU to refuse the
 * eject). PREVENT ALLOW MEDIUM REMOVAL is recorded per nexus either way; nexus loss and resets
 * clear it.
 */
import { decodePreventAllowCdb, decodeRequestSenseCdb, decodeStartStopUnitCdb } from '../cdb/unit-cdb.js';
import { encodeSense } from '../sense.js';
import { ASC, SenseKey } from '../sense-codes.js';
import { invalidCdbField, illegalRequest } from '../errors.js';
import type { CommandContext, CommandResult } from './command.js';
import { sanitizeProgress } from './sanitize.js';

export async function testUnitReady(): Promise<CommandResult> {
  return {};
}

export async function requestSense(ctx: CommandContext): Promise<CommandResult> {
  const { desc } = decodeRequestSenseCdb(ctx.cdb);
  const format = desc ? 'descriptor' : 'fixed';
  const ua = ctx.state.ua.take();
  if (ua !== undefined)
    return { dataIn: encodeSense({ format, current: true, key: SenseKey.UNIT_ATTENTION, asc: ua }) };
  // A sanitize in progress reports itself with its progress (SBC-3 §4.11.1).
  if (ctx.lu.sanitize.kind === 'running') {
    return {
      dataIn: encodeSense({
        format,
        current: true,
        key: SenseKey.NOT_READY,
        asc: ASC.SANITIZE_IN_PROGRESS,
        senseKeySpecific: sanitizeProgress(ctx.lu),
      }),
    };
  }
  return {
    dataIn: encodeSense({ format, current: true, key: SenseKey.NO_SENSE, asc: ASC.NO_ADDITIONAL_SENSE }),
  };
}

export async function startStopUnit(ctx: CommandContext): Promise<CommandResult> {
  const { powerCondition, loej, start } = decodeStartStopUnitCdb(ctx.cdb);
  const lu = ctx.lu;
  // Power conditions (SBC-3 Table 89) are not modelled: every POWER CONDITION is accepted and
  // changes nothing (libiscsi's StartStopUnit.PwrCnd expects GOOD for 1h..Fh).
  // SBC-3 §5.25: LOEJ is ignored unless POWER CONDITION is 0h.
  if (powerCondition !== 0 || !loej) return {};
  if (!lu.removable) throw invalidCdbField(4, 1);
  // SBC-3 §5.25 / §5.14: while any I_T nexus prevents removal, the medium stays where it is.
  if (lu.removalPrevented) throw illegalRequest(ASC.MEDIUM_REMOVAL_PREVENTED);
  // The same medium comes back, so no NOT READY TO READY CHANGE unit attention is raised on load
  // (libiscsi's test sessions, which log in again with the same ISID between tests, fail their
  // login on any unit attention but a reset or nexus loss).
  lu.mediumLoaded = start;
  return {};
}

export async function preventAllowMediumRemoval(ctx: CommandContext): Promise<CommandResult> {
  const { prevent } = decodePreventAllowCdb(ctx.cdb);
  // SBC-3 Table 59: 00b allowed, 01b prevented; 10b/11b are obsolete.
  if (prevent & 0x02) throw invalidCdbField(4, 1);
  ctx.state.preventRemoval = prevent === 1;
  return {};
}
