/**
 * Adaptive polling of the event loop: QEMU's IOThread polling (`poll-max-ns`) for Node.
 *
 * After a request the server is usually idle for a few tens of microseconds until the client's
 * next one. If the event loop sleeps in epoll meanwhile, the next request must wake it; on a
 * virtual machine the sleeping vCPU halts, and waking it takes an interrupt through the host,
 * which costs tens of microseconds: at queue depth 1 that is most of a request's round trip.
 * While polling, the loop keeps a setImmediate pending, so libuv polls with a zero timeout and
 * sees the next request the moment it arrives, at the price of one busy core for the window.
 *
 * The window adapts, as QEMU's does: it starts at 0, grows (doubling, from MIN_NS) when the next
 * request arrived after the window had closed but within `maxNs` of the last one (a longer
 * window would have caught it), and shrinks (halving) when the loop polled a whole window for
 * nothing and the next request came later than `maxNs`: a client that pauses costs no CPU
 * beyond one window, and an idle server none. `maxNs` 0 turns polling off.
 */
import { performance } from 'node:perf_hooks';

const MIN_NS = 4_000;

/**
 * The servers' default maximum window. QEMU's IOThreads default to 32 us; on the 2-vCPU bench
 * machine a client's turnaround between a reply and its next request was 50-100 us, which a
 * 32 us or 50 us window never caught (4k reads at queue depth 1: about 10K IOPS with either, or
 * none; 20-23K with 100 us).
 */
export const DEFAULT_POLL_MAX_NS = 100_000;

export class BusyPoll {
  /** The current window, in nanoseconds. */
  private windowNs = 0;
  /** performance.now() of the last activity, and of the end of the current window. */
  private last = -Infinity;
  private until = 0;
  private polling = false;
  /** Activity since the last poll, while polling. */
  private active = false;
  /** Windows polled through without activity, then activity after maxNs: for tests. */
  polls = 0;

  constructor(readonly maxNs: number) {}

  /** Something arrived or was sent: poll on for a window from now. */
  activity(): void {
    if (this.maxNs <= 0) return;
    if (this.polling) {
      // Read the clock once per turn of the loop (in poll), not once per request and reply.
      this.active = true;
      return;
    }
    const now = performance.now();
    const idleNs = (now - this.last) * 1e6;
    if (idleNs <= this.maxNs) {
      if (idleNs > this.windowNs) this.windowNs = Math.min(this.maxNs, Math.max(MIN_NS, this.windowNs * 2));
    } else if (this.windowNs > 0) {
      this.windowNs = this.windowNs / 2 < MIN_NS ? 0 : this.windowNs / 2;
    }
    this.last = now;
    if (this.windowNs === 0) return;
    this.until = now + this.windowNs / 1e6;
    this.polling = true;
    setImmediate(this.poll);
  }

  /** The current window in nanoseconds (0: not polling after activity). */
  get window(): number {
    return this.windowNs;
  }

  private readonly poll = (): void => {
    const now = performance.now();
    if (this.active) {
      this.active = false;
      this.last = now;
      this.until = now + this.windowNs / 1e6;
    }
    if (now < this.until) {
      this.polls++;
      setImmediate(this.poll);
      return;
    }
    this.polling = false;
  };
}
