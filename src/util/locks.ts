/**
 * Concurrency primitives. Every `await` lets another request run, so shared state is guarded
 * explicitly with these (STYLE.md convention 8).
 *
 * - `Mutex`: one holder at a time, FIFO.
 * - `RangeLock`: shared/exclusive locks on half-open byte ranges [start, end). Shared holders of
 *   overlapping ranges coexist; an exclusive holder excludes every overlapping holder. Waiters
 *   are granted in arrival order among overlapping requests, so a stream of readers cannot
 *   starve a writer.
 */

export class Mutex {
  private locked = false;
  private readonly waiters: Array<() => void> = [];

  /**
   * Resolves, in call order, to a release function once the caller holds the mutex. Releasing is
   * idempotent: a second call of the same release function must not hand the mutex on again
   * while someone else holds it.
   */
  async lock(): Promise<() => void> {
    if (!this.locked) {
      this.locked = true;
    } else {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.unlock();
    };
  }

  private unlock(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.locked = false;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.lock();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  get isLocked(): boolean {
    return this.locked;
  }
}

interface RangeRequest {
  start: number;
  end: number;
  exclusive: boolean;
  granted: boolean;
  grant?: () => void;
}

function overlaps(a: RangeRequest, b: RangeRequest): boolean {
  return a.start < b.end && b.start < a.end;
}

function conflicts(a: RangeRequest, b: RangeRequest): boolean {
  return overlaps(a, b) && (a.exclusive || b.exclusive);
}

export class RangeLock {
  /** Granted and waiting requests, in arrival order. */
  private readonly queue: RangeRequest[] = [];

  /** Acquires [start, end) and resolves to a release function. */
  async acquire(start: number, end: number, exclusive: boolean): Promise<() => void> {
    const { req, wait } = this.enqueue(start, end, exclusive);
    if (wait) await wait;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(req);
    };
  }

  /**
   * Runs `fn` holding [start, end). Without a conflict, `fn` starts at once, in this call (no
   * promise hop: this is on every SCSI READ and WRITE).
   */
  run<T>(start: number, end: number, exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    const { req, wait } = this.enqueue(start, end, exclusive);
    const go = (): Promise<T> => {
      let p: Promise<T>;
      try {
        p = fn();
      } catch (err) {
        p = Promise.reject(err);
      }
      // then() rather than finally(): finally costs one more promise per request (callgrind: about
      // 2,500 more instructions per 4 KiB iSCSI write).
      return p.then(
        (v) => {
          this.release(req);
          return v;
        },
        (err: unknown) => {
          this.release(req);
          throw err;
        },
      );
    };
    return wait ? wait.then(go) : go();
  }

  /**
   * Queues a request for [start, end): granted at once if it conflicts with no earlier request
   * (granted or waiting: FIFO among overlaps), else `wait` settles when it is.
   */
  private enqueue(
    start: number,
    end: number,
    exclusive: boolean,
  ): { req: RangeRequest; wait: Promise<void> | undefined } {
    const req: RangeRequest = { start, end, exclusive, granted: false };
    const blocked = this.queue.some((r) => conflicts(r, req));
    this.queue.push(req);
    if (!blocked) {
      req.granted = true;
      return { req, wait: undefined };
    }
    return { req, wait: new Promise<void>((resolve) => (req.grant = resolve)) };
  }

  /** Number of granted or waiting requests (for tests and drain checks). */
  get size(): number {
    return this.queue.length;
  }

  private release(req: RangeRequest): void {
    const i = this.queue.indexOf(req);
    if (i >= 0) this.queue.splice(i, 1);
    // Grant each waiter that conflicts with no request ahead of it.
    for (let j = 0; j < this.queue.length; j++) {
      const w = this.queue[j]!;
      if (w.granted) continue;
      let ok = true;
      for (let k = 0; k < j; k++) {
        if (conflicts(this.queue[k]!, w)) {
          ok = false;
          break;
        }
      }
      if (ok) {
        w.granted = true;
        w.grant!();
      }
    }
  }
}
