/**
 * Asynchronous I/O engines for the host-file leaf, with QEMU's names for its `aio=` option:
 *
 * | mode       | how a transfer runs                                                       |
 * |------------|---------------------------------------------------------------------------|
 * | threads    | libuv's thread pool (pread/pwrite on a worker thread), the default        |
 * | io_uring   | an io_uring submission on the event loop thread, completion by eventfd     |
 * | native     | Linux AIO (io_submit), only asynchronous with O_DIRECT, so direct modes only |
 *
 * The kernel engines (native/aio_engine.c) need no thread hand-off per request: the event loop
 * submits, and one eventfd wake-up delivers every completion that arrived meanwhile. There is one
 * engine per mode per process, created on first use and shared by every open file. It keeps at
 * most DEPTH requests in the kernel; more wait in a FIFO queue here. A kernel that refuses the
 * engine (no io_uring, or a seccomp filter that blocks it) fails the open that asked for it, with
 * the reason, the way DESIGN.md wants a mode that cannot be honoured to fail: loudly.
 *
 * A transfer is one attempt: it resolves with the byte count the kernel reported (possibly short,
 * 0 at the end of the file) and the caller loops, exactly as with pread(2).
 */
import fs from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { BlockError, UsageError } from '../util/index.js';
import { native } from './native.js';

export const AIO_MODES = ['threads', 'native', 'io_uring'] as const;
export type AioMode = (typeof AIO_MODES)[number];

export function parseAioMode(s: string): AioMode {
  if ((AIO_MODES as readonly string[]).includes(s)) return s as AioMode;
  throw new UsageError(`invalid aio mode '${s}' (expected one of: ${AIO_MODES.join(', ')})`);
}

export interface AioEngine {
  readonly mode: AioMode;
  /** Reads into `buf` at `pos`: bytes read, 0 at the end of the file. */
  read(fd: number, buf: Buffer, pos: number): Promise<number>;
  /** Writes `buf` at `pos`: bytes written. */
  write(fd: number, buf: Buffer, pos: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
}

const threadsEngine: AioEngine = {
  mode: 'threads',
  read: (fd, buf, pos) =>
    new Promise((resolve, reject) => {
      fs.read(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n)));
    }),
  write: (fd, buf, pos) =>
    new Promise((resolve, reject) => {
      fs.write(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n)));
    }),
  fdatasync: (fd) =>
    new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
};

/** Requests in the kernel at once, per engine. */
const DEPTH = 256;

const OP_READ = 0;
const OP_WRITE = 1;
const OP_FDATASYNC = 2;

interface Pending {
  op: number;
  fd: number;
  buf: Buffer | null;
  pos: number;
  resolve: (n: number) => void;
  reject: (err: Error) => void;
}

/** An error shaped like Node's fs errors (code, errno, syscall), for fromSystemError. */
function kernelError(res: number, syscall: string): Error {
  const code = getSystemErrorName(res);
  const err = new Error(`${syscall}: ${code}`) as Error & { code: string; errno: number; syscall: string };
  err.code = code;
  err.errno = res;
  err.syscall = syscall;
  return err;
}

class KernelEngine implements AioEngine {
  readonly mode: AioMode;
  private readonly handle: unknown;
  private readonly results = new Int32Array(2 * DEPTH);
  /** The request behind each kernel id; a free id has no entry. The buffer stays referenced here. */
  private readonly slots: (Pending | undefined)[] = new Array(DEPTH).fill(undefined);
  private readonly freeIds: number[] = [];
  private readonly waiting: Pending[] = [];
  private waitingHead = 0;

  constructor(mode: 'native' | 'io_uring') {
    this.mode = mode;
    for (let i = DEPTH - 1; i >= 0; i--) this.freeIds.push(i);
    const n = native();
    if (!n.aioCreate)
      throw new BlockError('NOT_SUPPORTED', 'the native helper predates aio engines: run `npm ci`');
    try {
      this.handle = n.aioCreate(mode, DEPTH, this.results, (count: number) => this.complete(count));
    } catch (err) {
      throw new BlockError(
        'NOT_SUPPORTED',
        `aio=${mode} is not available on this host (${(err as Error).message}); use aio=threads`,
        { cause: err },
      );
    }
  }

  read(fd: number, buf: Buffer, pos: number): Promise<number> {
    return this.enqueue(OP_READ, fd, buf, pos);
  }

  write(fd: number, buf: Buffer, pos: number): Promise<number> {
    return this.enqueue(OP_WRITE, fd, buf, pos);
  }

  async fdatasync(fd: number): Promise<void> {
    await this.enqueue(OP_FDATASYNC, fd, null, 0);
  }

  private enqueue(op: number, fd: number, buf: Buffer | null, pos: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const p: Pending = { op, fd, buf, pos, resolve, reject };
      if (this.freeIds.length > 0 && this.waitingHead === this.waiting.length) this.submit(p);
      else this.waiting.push(p);
    });
  }

  private submit(p: Pending): void {
    const id = this.freeIds.pop() as number;
    const r = native().aioSubmit!(this.handle, p.op, p.fd, p.buf, p.pos, id, 0);
    if (r < 0) {
      this.freeIds.push(id);
      p.reject(kernelError(r, this.syscall(p.op)));
      return;
    }
    this.slots[id] = p;
  }

  private syscall(op: number): string {
    return op === OP_READ ? 'read' : op === OP_WRITE ? 'write' : 'fdatasync';
  }

  /** Called by the native side with `count` (id, result) pairs in `results`. */
  private complete(count: number): void {
    const r = this.results;
    for (let i = 0; i < count; i++) {
      const id = r[2 * i] as number;
      const res = r[2 * i + 1] as number;
      const p = this.slots[id];
      this.slots[id] = undefined;
      this.freeIds.push(id);
      if (!p) continue;
      if (res < 0) p.reject(kernelError(res, this.syscall(p.op)));
      else p.resolve(res);
    }
    while (this.freeIds.length > 0 && this.waitingHead < this.waiting.length) {
      const next = this.waiting[this.waitingHead++] as Pending;
      this.submit(next);
    }
    if (this.waitingHead === this.waiting.length) {
      this.waiting.length = 0;
      this.waitingHead = 0;
    }
  }
}

const engines = new Map<AioMode, AioEngine>([['threads', threadsEngine]]);

/** The process-wide engine for `mode`; throws NOT_SUPPORTED when this host cannot run it. */
export function aioEngine(mode: AioMode): AioEngine {
  let e = engines.get(mode);
  if (!e) {
    e = new KernelEngine(mode as 'native' | 'io_uring');
    engines.set(mode, e);
  }
  return e;
}

/** Why this host cannot run the engine for `mode` (the kernel's refusal), or undefined when it can. */
export function aioUnavailable(mode: AioMode): string | undefined {
  try {
    aioEngine(mode);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
