/**
 * SANITIZE (SBC-3 §5.30, §4.11): BLOCK ERASE and EXIT FAILURE MODE.
 *
 * A thin-provisioned volume sanitizes by deallocating every block: BLOCK ERASE unmaps the whole
 * device (writeZeroes with mayUnmap, so reads return zeroes: WABEREQ = 01b in VPD B1h), holding
 * the LU's range lock over all of it so no write lands in between. It is offered where UNMAP is
 * (discard=on on a device that can discard). OVERWRITE and CRYPTOGRAPHIC ERASE are not offered:
 * there is no medium to overwrite below the image and no encryption key to change.
 *
 * While the erase runs, other commands get NOT READY / SANITIZE IN PROGRESS with a progress
 * indication (dispatch.ts), except INQUIRY, REPORT LUNS, REQUEST SENSE and the REPORT SUPPORTED
 * commands. IMMED = 1 returns GOOD at once and erases in the background. A failed erase leaves the
 * LU in sanitize failure mode (MEDIUM ERROR / SANITIZE COMMAND FAILED for medium access) until a
 * SANITIZE succeeds, or EXIT FAILURE MODE if the failed command had AUSE = 1. The state belongs to
 * the LU, so task management resets neither stop the erase nor clear the failure mode.
 */
import { decodeSanitizeCdb } from '../cdb/provisioning-cdb.js';
import { invalidCdbField, ScsiError } from '../errors.js';
import type { LogicalUnit } from '../logical-unit.js';
import { ASC, SenseKey } from '../sense-codes.js';
import type { CommandContext, CommandResult } from './command.js';
import { checkWritable } from './io.js';

export const SanitizeAction = {
  OVERWRITE: 0x01,
  BLOCK_ERASE: 0x02,
  CRYPTO_ERASE: 0x03,
  EXIT_FAILURE_MODE: 0x1f,
} as const;

/** Unmapped per step, between progress updates. */
const STEP = 256 * 1024 * 1024;

function failedCommand(): ScsiError {
  return new ScsiError(SenseKey.MEDIUM_ERROR, ASC.SANITIZE_COMMAND_FAILED);
}

async function blockErase(lu: LogicalUnit, ause: boolean): Promise<boolean> {
  const total = lu.device.size;
  const state = { kind: 'running' as const, done: 0, total };
  lu.sanitize = state;
  try {
    await lu.atomic.run(0, Math.max(1, total), true, async () => {
      for (let off = 0; off < total; off += STEP) {
        const n = Math.min(STEP, total - off);
        if (lu.device.caps.canZero) await lu.device.writeZeroes(off, n, { mayUnmap: true });
        else await lu.device.discard(off, n);
        state.done = off + n;
      }
      await lu.device.flush();
    });
    lu.sanitize = { kind: 'idle' };
    return true;
  } catch {
    lu.sanitize = { kind: 'failed', ause };
    return false;
  }
}

export async function sanitize(ctx: CommandContext): Promise<CommandResult> {
  const lu = ctx.lu;
  const { immed, ause, serviceAction: action, parameterListLength } = decodeSanitizeCdb(ctx.cdb);
  // BLOCK ERASE and EXIT FAILURE MODE take no parameter list (SBC-3 §5.30.1).
  if (parameterListLength !== 0) throw invalidCdbField(7);
  checkWritable(lu);
  if (action === SanitizeAction.EXIT_FAILURE_MODE) {
    if (lu.sanitize.kind === 'failed') {
      // SBC-3 §4.11.2: leaving failure mode this way needs AUSE = 1 in the failed command.
      if (!lu.sanitize.ause) throw invalidCdbField(1, 4);
      lu.sanitize = { kind: 'idle' };
    }
    return {};
  }
  const job = blockErase(lu, ause);
  if (immed) return {};
  if (!(await job)) throw failedCommand();
  return {};
}

/** SPC-4 §4.5.2.4.4 PROGRESS INDICATION of a running sanitize, as sense-key specific bytes. */
export function sanitizeProgress(lu: LogicalUnit): number {
  const s = lu.sanitize;
  const fraction = s.kind === 'running' && s.total > 0 ? s.done / s.total : 0;
  return 0x800000 | Math.min(0xffff, Math.floor(fraction * 65536));
}

/** The check condition for a command refused because of SANITIZE, or undefined. */
export function sanitizeRefusal(lu: LogicalUnit, commandName: string): ScsiError | undefined {
  const s = lu.sanitize;
  if (s.kind === 'idle' || ALWAYS_ALLOWED.has(commandName)) return undefined;
  if (s.kind === 'running') {
    return new ScsiError(SenseKey.NOT_READY, ASC.SANITIZE_IN_PROGRESS, { sks: sanitizeProgress(lu) });
  }
  return commandName === 'SANITIZE' ? undefined : failedCommand();
}

/** Commands a sanitize in progress or its failure mode does not stop (SBC-3 §4.11). */
const ALWAYS_ALLOWED: ReadonlySet<string> = new Set([
  'INQUIRY',
  'REPORT LUNS',
  'REQUEST SENSE',
  'REPORT SUPPORTED OPERATION CODES',
  'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS',
]);
