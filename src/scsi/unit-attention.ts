/**
 * Unit attention conditions of one I_T nexus on one logical unit (SAM-5 §5.14, SPC-4 §5.14).
 *
 * A queue, oldest first, without duplicates and bounded: a reset-class condition (ASC 29h)
 * replaces everything queued, because it supersedes what happened before it (SAM-5 §6.3.3 lets
 * the device server clear other unit attentions on a reset). The head is reported by the first
 * command that is not exempt (SPC-4 §5.14: INQUIRY, REPORT LUNS and REQUEST SENSE are not failed)
 * and then cleared; REQUEST SENSE returns it as parameter data and clears it.
 */
export const MAX_UNIT_ATTENTIONS = 16;

export class UnitAttentionQueue {
  private readonly queue: number[] = [];

  /** Establishes a condition (`(ASC << 8) | ASCQ`). */
  add(asc: number): void {
    if (asc >> 8 === 0x29) {
      this.queue.length = 0;
      this.queue.push(asc);
      return;
    }
    if (this.queue.includes(asc)) return;
    if (this.queue.length >= MAX_UNIT_ATTENTIONS) this.queue.shift();
    this.queue.push(asc);
  }

  /** Removes and returns the oldest condition. */
  take(): number | undefined {
    return this.queue.shift();
  }

  peek(): number | undefined {
    return this.queue[0];
  }

  /** Clears every queued condition equal to `asc` (SPC-4 LUICLR for REPORTED LUNS DATA CHANGED). */
  clear(asc?: number): void {
    if (asc === undefined) this.queue.length = 0;
    else for (let i = this.queue.indexOf(asc); i >= 0; i = this.queue.indexOf(asc)) this.queue.splice(i, 1);
  }

  get length(): number {
    return this.queue.length;
  }

  list(): readonly number[] {
    return this.queue;
  }
}
