/**
 * Command numbering of a session (RFC 7143 §4.2.2.1, §3.2.2.1 in RFC 3720): CmdSN, ExpCmdSN and
 * MaxCmdSN, in 32-bit serial number arithmetic (RFC 1982).
 *
 * - A non-immediate command outside [ExpCmdSN, MaxCmdSN], or a duplicate, is silently ignored
 *   ("the target MUST silently ignore any non-immediate command outside of this range or
 *   non-immediate duplicates within the range").
 * - Non-immediate commands are taken in CmdSN order: one that arrives ahead of a gap waits here
 *   until the gap is filled, so the SCSI layer sees commands in the order the initiator numbered
 *   them (ordered delivery, §4.2.2.1).
 * - Immediate commands skip the queue and do not advance ExpCmdSN.
 * - MaxCmdSN = ExpCmdSN + window - 1 - (commands still running), never decreasing: the window
 *   closes as work piles up, which is how the target bounds the commands one session holds.
 */

/** a < b in serial arithmetic. */
export function snLess(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function snAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

export class CommandWindow {
  expCmdSN: number;
  maxCmdSN: number;
  /** Commands counted against the window (taken and not yet answered). */
  active = 0;
  private readonly waiting = new Map<number, () => void>();

  constructor(
    firstCmdSN: number,
    readonly size: number,
  ) {
    this.expCmdSN = firstCmdSN >>> 0;
    this.maxCmdSN = snAdd(this.expCmdSN, size - 1);
  }

  /** Commands waiting for a gap before them to be filled. */
  get queued(): number {
    return this.waiting.size;
  }

  /**
   * Takes a command: runs `run` now, later (in CmdSN order), or never (outside the window or a
   * duplicate: returns false).
   */
  take(cmdSN: number, immediate: boolean, run: () => void): boolean {
    if (immediate) {
      run();
      return true;
    }
    if (snLess(cmdSN, this.expCmdSN) || snLess(this.maxCmdSN, cmdSN)) return false;
    if (cmdSN !== this.expCmdSN) {
      if (this.waiting.has(cmdSN)) return false;
      this.waiting.set(cmdSN, run);
      return true;
    }
    this.expCmdSN = snAdd(this.expCmdSN, 1);
    run();
    for (let next = this.waiting.get(this.expCmdSN); next; next = this.waiting.get(this.expCmdSN)) {
      this.waiting.delete(this.expCmdSN);
      this.expCmdSN = snAdd(this.expCmdSN, 1);
      next();
    }
    return true;
  }

  /** Whether `cmdSN` lies in [ExpCmdSN, MaxCmdSN]. */
  inWindow(cmdSN: number): boolean {
    return !snLess(cmdSN, this.expCmdSN) && !snLess(this.maxCmdSN, cmdSN);
  }

  /** The MaxCmdSN to send now (recomputed; never smaller than the last one sent). */
  currentMax(): number {
    const room = Math.max(0, this.size - this.active);
    const max = snAdd(this.expCmdSN, room - 1);
    if (snLess(this.maxCmdSN, max)) this.maxCmdSN = max;
    return this.maxCmdSN;
  }

  /** Drops what waits (the session ends). */
  clear(): void {
    this.waiting.clear();
  }
}
