/**
 * Adaptive polling of the event loop: QEMU's IOThread polling (`poll-max-ns`) for Node. The
 * event loop is the process's, so there is one poller per process: the servers in it (iSCSI and
 * NBD, in `iscsi serve --nbd`) take the same one and tell it of their traffic.
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
 *
 * On a machine whose cores are all busy, polling does harm: the poller is always runnable, so
 * the scheduler preempts it for the other work and a request that arrives meanwhile waits a
 * whole time slice, where a sleeping server would have been woken at once. A poll that finds
 * more than PREEMPTED_MS passed since the previous one, with nothing to do in between, was
 * preempted (an idle loop turns in 1-3 us; a scheduler's time slice is milliseconds). One such
 * gap can be a garbage collection or the host's own jitter (on the bench machine, of 20,000 idle
 * turns 12-16 took over 0.2 ms, the longest 1.4-2.2 ms); a second within CONTENDED_MS means the
 * core is contended, and polling stops for a back-off (BACKOFF_MS, doubling up to BACKOFF_MAX_MS
 * while it keeps happening, reset by a window polled through without it).
 */
import { performance } from 'node:perf_hooks';

const MIN_NS = 4_000;
const PREEMPTED_MS = 1;
const CONTENDED_MS = 100;
const BACKOFF_MS = 50;
const BACKOFF_MAX_MS = 1_600;

/**
 * The servers' default maximum window. QEMU's IOThreads default to 32 us. On the 2-vCPU bench
 * machine, fio's 4k reads at queue depth 1 ran at about 10K IOPS with a 50 us maximum, as with
 * none, and at 17-23K with 100 us or 200 us: its turnaround between a reply and its next
 * request lies between 50 and 100 us, which a 32 us window cannot catch either.
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
  /** performance.now() of the previous poll. */
  private prev = 0;
  /** No polling before this time (preempted while polling), and the next back-off. */
  private backoffUntil = 0;
  private backoffMs = BACKOFF_MS;
  /** Times polling was found preempted, and when last: for tests and diagnostics. */
  preemptions = 0;
  private lastPreempted = -Infinity;
  /** Turns of the loop that polled and found nothing to do: for tests and diagnostics. */
  polls = 0;

  /** `preemptedMs`: the gap that counts as a preemption (PREEMPTED_MS; tests set a longer one). */
  constructor(
    readonly maxNs: number,
    private readonly preemptedMs = PREEMPTED_MS,
  ) {}

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
    if (this.windowNs === 0 || now < this.backoffUntil) return;
    this.until = now + this.windowNs / 1e6;
    this.polling = true;
    this.prev = now;
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
    } else if (now - this.prev > this.preemptedMs) {
      this.preempted(now);
      return;
    }
    this.prev = now;
    if (now < this.until) {
      this.polls++;
      setImmediate(this.poll);
      return;
    }
    this.polling = false;
    this.backoffMs = BACKOFF_MS;
  };

  /** Another process needed this core while we polled: twice in a row, sleep in epoll a while. */
  private preempted(now: number): void {
    this.preemptions++;
    this.polling = false;
    const again = now - this.lastPreempted < CONTENDED_MS;
    this.lastPreempted = now;
    if (!again) return;
    this.backoffUntil = now + this.backoffMs;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
  }
}
