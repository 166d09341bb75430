/**
 * The target's ping (RFC 7143 §11.19: a NOP-In with a Target Transfer Tag asks the initiator for
 * a NOP-Out answer). A connection that received nothing for `intervalMs` is pinged; one whose
 * ping is not answered within `timeoutMs` is declared dead (the connection drops it). A target
 * ping carries the current StatSN without advancing it.
 */
import { RESERVED_TAG } from './constants.js';
import { encodeNopIn } from './nop-in.js';
import type { PduWriter } from './pdu-writer.js';
import type { Session } from './session.js';

/** Ping TTTs live in their own range, apart from R2T and Text tags. */
const PING_TTT_BASE = 0x7f000000;

export class Pinger {
  private timer: NodeJS.Timeout | undefined;
  private outstanding: number | undefined;
  private sentAt = 0;
  private count = 0;
  lastRx = Date.now();

  constructor(
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly writer: PduWriter,
    private readonly statSN: () => number,
    private readonly dead: (why: string) => void,
  ) {}

  start(session: Session): void {
    if (!(this.intervalMs > 0)) return;
    this.timer = setInterval(
      () => this.tick(session),
      Math.min(this.intervalMs, this.timeoutMs || this.intervalMs),
    );
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  answered(ttt: number): void {
    if (ttt === this.outstanding) this.outstanding = undefined;
  }

  private tick(session: Session): void {
    const now = Date.now();
    if (this.outstanding !== undefined) {
      if (now - this.sentAt >= this.timeoutMs)
        this.dead(`no answer to a NOP-In ping in ${this.timeoutMs} ms`);
      return;
    }
    if (now - this.lastRx < this.intervalMs) return;
    this.count = (this.count + 1) & 0xffffff;
    this.outstanding = PING_TTT_BASE | this.count;
    this.sentAt = now;
    const w = session.window;
    const h = this.writer.headerBuffer();
    encodeNopIn(
      {
        dataSegmentLength: 0,
        lun: 0n,
        itt: RESERVED_TAG,
        ttt: this.outstanding,
        statSN: this.statSN(),
        expCmdSN: w.expCmdSN,
        maxCmdSN: w.currentMax(),
      },
      h,
    );
    this.writer.send(h);
  }
}
