/**
 * Running one command on one logical unit: the validation point of the SCSI core (STYLE.md
 * convention 6). In order:
 *
 * 1. Pending unit attention (SPC-4 §5.14): every command except INQUIRY, REPORT LUNS and REQUEST
 *    SENSE fails with the oldest condition, which is then cleared.
 * 2. Lookup in the command table; an unknown opcode is INVALID COMMAND OPERATION CODE, an unknown
 *    service action of a known opcode is INVALID FIELD IN CDB (SPC-4 §4.3.4.1).
 * 3. Every CDB bit outside the entry's usage data is INVALID FIELD IN CDB with its field pointer
 *    (reserved bits, protection fields without protection information, NACA).
 * 4. A SANITIZE in progress or its failure mode (commands/sanitize.ts), an ejected medium
 *    (commands/medium.ts), then the reservation hook (RESERVATION CONFLICT; issue 6).
 * 5. The handler. A ScsiError or BlockError becomes CHECK CONDITION with sense data in the
 *    format the control mode page's D_SENSE bit asks for; Data-In is clipped to the CDB's
 *    allocation length.
 *
 * Nothing here knows about the task set; target.ts wraps this in task ordering and aborts.
 */
import { checkConditionFor } from './check-condition.js';
import type { CommandContext, TargetView } from './commands/command.js';
import { mediumRefusal } from './commands/medium.js';
import { sanitizeRefusal } from './commands/sanitize.js';
import { releaseOf } from './commands/read-buffers.js';
import { commandsFor, lookupCommand, type Lookup } from './commands/table.js';
import { invalidCdbField, invalidOpcode, ScsiError } from './errors.js';
import type { LogicalUnit } from './logical-unit.js';
import { SenseKey } from './sense-codes.js';
import { ScsiStatus, type ScsiCommand, type ScsiResponse } from './task.js';

/** The CDB's data length for residuals, without failing on a CDB we cannot decode. */
export function transferLengthOf(
  cmd: ScsiCommand,
  blockSize: number,
  l: Lookup = lookupCommand(cmd.cdb),
): number {
  if (l.kind !== 'found' || cmd.cdb.length < l.entry.cdbLength) return 0;
  try {
    return l.entry.dataLength(cmd.cdb, blockSize);
  } catch {
    return 0;
  }
}

/**
 * Runs `cmd` on `lu`; `l` and `transferLength` are what the caller already computed from the CDB,
 * `aborted` tells whether the task has been aborted meanwhile.
 */
export async function runCommand(
  lu: LogicalUnit,
  cmd: ScsiCommand,
  target: TargetView,
  l: Lookup = lookupCommand(cmd.cdb),
  transferLength = transferLengthOf(cmd, lu.blockSize, l),
  aborted: () => boolean = notAborted,
): Promise<ScsiResponse> {
  const state = lu.nexusState(cmd.nexus);
  try {
    const entry = l.kind === 'found' && (!l.entry.available || l.entry.available(lu)) ? l.entry : undefined;
    if (!entry?.uaExempt) {
      const ua = state.ua.take();
      if (ua !== undefined) throw new ScsiError(SenseKey.UNIT_ATTENTION, ua);
    }
    if (!entry) {
      if (l.kind === 'unknown-service-action') throw invalidCdbField(1, 4);
      throw invalidOpcode();
    }
    const cdb = cmd.cdb;
    if (cdb.length < entry.cdbLength) throw invalidOpcode();
    const saBits = entry.serviceAction !== undefined ? 0x1f : 0;
    for (let i = 1; i < entry.cdbLength; i++) {
      const bad = cdb[i]! & ~(entry.usage[i]! | (i === 1 ? saBits : 0)) & 0xff;
      if (bad) throw invalidCdbField(i, 31 - Math.clz32(bad));
    }
    const refusal = sanitizeRefusal(lu, entry.name) ?? mediumRefusal(lu, entry.name);
    if (refusal) throw refusal;
    if (lu.reservations.conflicts(cmd.nexus, entry.name, cdb)) {
      return { status: ScsiStatus.RESERVATION_CONFLICT, transferLength };
    }
    const ctx: CommandContext = {
      lu,
      cmd,
      cdb,
      nexus: cmd.nexus,
      state,
      target,
      aborted,
      get commands() {
        return commandsFor(lu);
      },
    };
    const res = await entry.handler(ctx);
    const out: ScsiResponse = { status: res.status ?? ScsiStatus.GOOD, transferLength };
    const n = Math.min(res.dataIn?.length ?? 0, transferLength);
    if (n > 0) out.dataIn = n < res.dataIn!.length ? res.dataIn!.subarray(0, n) : res.dataIn;
    const release = res.dataIn && releaseOf(res.dataIn);
    if (release) out.release = release;
    return out;
  } catch (err) {
    return checkConditionFor(err, lu.mode.dSense, transferLength);
  }
}

function notAborted(): boolean {
  return false;
}
