/**
 * A MemoryDevice whose reads and writes wait until the test opens the gate: lets task tests hold
 * commands "in the middle of their I/O" and check ordering, aborts and resets deterministically.
 */
import { MemoryDevice } from '../../src/block/index.js';
import type { WriteOptions } from '../../src/block/index.js';

export class GatedDevice extends MemoryDevice {
  private waiters: Array<() => void> = [];
  closed = true;
  /** Byte offsets of I/O requests, in the order they reached the device. */
  readonly log: string[] = [];

  constructor(size: number) {
    super(size);
  }

  private async gate(): Promise<void> {
    if (!this.closed) return;
    await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Number of requests waiting at the gate. */
  get waiting(): number {
    return this.waiters.length;
  }

  open(): void {
    this.closed = false;
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  /** Lets exactly the oldest waiting request through. */
  step(): void {
    this.waiters.shift()?.();
  }

  override async read(offset: number, buf: Buffer): Promise<void> {
    this.log.push(`r${offset}`);
    await this.gate();
    return super.read(offset, buf);
  }

  override async write(offset: number, data: Buffer, opts?: WriteOptions): Promise<void> {
    this.log.push(`w${offset}`);
    await this.gate();
    return super.write(offset, data, opts);
  }
}

/** Resolves after pending promise callbacks have run (several turns of the microtask queue). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
