/**
 * Bytes moved between a TCP socket and a host file without entering the process
 * (native/splice.c): write payloads from the socket into the file with splice(2), read replies
 * from the file to the socket with sendfile(2).
 *
 * Read into a buffer and written with pwrite, each payload byte is copied twice on the event
 * loop: out of the socket, then into the page cache. Spliced, the socket's pages pass through a
 * pipe by reference and are copied once, into the page cache. Measured on a 1 MiB sequential
 * NBD write to tmpfs, the copy out of the socket had been a quarter of the server's CPU time.
 * Likewise a read reply: read into a buffer and sent, its bytes are copied out of the page
 * cache and into the socket; sent from the file, the socket takes the page-cache pages by
 * reference and the server copies nothing.
 *
 * The caller owns the stream, one direction at a time. In: it hands over the bytes of the payload
 * it has already received (`head`, written here with pwrite) and keeps its own reader of the
 * socket stopped until the splicer reports the payload consumed. Out: it sends a reply here only
 * when its own writer has nothing queued, and queues nothing behind it until the splicer reports
 * the reply sent. Two readers or two writers of one stream would tear it apart.
 *
 * A payload is always consumed whole, even when the file fails, so the stream stays in step and
 * the request gets an error reply. Only a socket that fails or ends mid-payload loses the stream.
 * A reply whose header is out cannot be taken back: any failure while sending it loses the stream.
 */
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import { fromSystemError, type BlockError } from '../util/index.js';
import type { HostReadSource, HostWriteTarget } from './device.js';
import { native } from './native.js';

export type SpliceOutcome =
  /** The payload is in the file (`error` undefined), or was consumed and the file failed. */
  | { kind: 'consumed'; error: BlockError | undefined }
  /** The socket failed or ended before the whole payload came: the stream is lost. */
  | { kind: 'lost'; message: string };

export type SendOutcome =
  /** The whole reply is on the socket. */
  | { kind: 'sent' }
  /** The socket or the file failed mid-reply: the stream is lost. */
  | { kind: 'lost'; message: string };

export class SocketSplicer {
  private pending:
    | { target: HostWriteTarget; headError: BlockError | undefined; done: (o: SpliceOutcome) => void }
    | undefined;

  private sendPending: { source: HostReadSource; done: (o: SendOutcome) => void } | undefined;

  private constructor(private handle: unknown) {}

  /**
   * A splicer for the socket whose descriptor is `fd`, or undefined where splicing is not
   * available (no native helper, a kernel or sandbox without splice): then the caller reads.
   */
  static open(fd: number): SocketSplicer | undefined {
    const n = native();
    if (!n.spliceOpen || !n.spliceWrite || !n.spliceSend || !n.spliceAbandon || !n.spliceClose) {
      return undefined;
    }
    let splicer: SocketSplicer | undefined;
    try {
      const handle = n.spliceOpen(
        fd,
        (code) => splicer?.settled(code),
        (code) => splicer?.sent(code),
      );
      splicer = new SocketSplicer(handle);
      return splicer;
    } catch {
      return undefined;
    }
  }

  /** A payload is under way: the caller's reader must stay stopped. */
  get busy(): boolean {
    return this.pending !== undefined;
  }

  /** A reply is under way: the caller's writer must queue nothing on the socket. */
  get sending(): boolean {
    return this.sendPending !== undefined;
  }

  /**
   * Sends a reply: `header` (at most 64 bytes), then `length` bytes of `source`'s file. Returns
   * the outcome when the socket took it all at once; otherwise undefined, and `done` gets the
   * outcome later. `source` is finished either way.
   */
  send(
    header: Buffer,
    source: HostReadSource,
    length: number,
    done: (o: SendOutcome) => void,
  ): SendOutcome | undefined {
    if (this.handle === undefined) throw new Error('SocketSplicer: closed');
    if (this.sendPending) throw new Error('SocketSplicer: a reply is under way');
    const code = native().spliceSend!(this.handle, header, source.fd, source.position, length);
    if (code === null) {
      this.sendPending = { source, done };
      return undefined;
    }
    source.finish();
    return sendOutcome(code);
  }

  /**
   * Writes a payload of `length` bytes to `target`: `head` (the bytes already received, written
   * before this returns, so it may be a view of a buffer that is reused afterwards) with pwrite,
   * the rest from the socket. Returns the outcome when the payload is all done at once;
   * otherwise undefined, and `done` gets the outcome later. `target` is finished either way.
   */
  write(
    target: HostWriteTarget,
    head: Buffer,
    length: number,
    done: (o: SpliceOutcome) => void,
  ): SpliceOutcome | undefined {
    if (this.handle === undefined) throw new Error('SocketSplicer: closed');
    if (this.pending) throw new Error('SocketSplicer: a payload is under way');
    let headError: BlockError | undefined;
    for (let written = 0; written < head.length && !headError;) {
      const at = target.position + written;
      try {
        const n = fs.writeSync(target.fd, head, written, head.length - written, at);
        if (n === 0) throw Object.assign(new Error('ENOSPC: the file took no bytes'), { code: 'ENOSPC' });
        written += n;
      } catch (err) {
        headError = fromSystemError(err, `write to the host file at ${at} failed`);
      }
    }
    const rest = length - head.length;
    if (rest <= 0) {
      target.finish();
      return { kind: 'consumed', error: headError };
    }
    // After a failed head, the rest is consumed into a descriptor that refuses it (-1: EBADF).
    const fd = headError ? -1 : target.fd;
    const code = native().spliceWrite!(this.handle, fd, target.position + head.length, rest);
    if (code === null) {
      this.pending = { target, headError, done };
      return undefined;
    }
    target.finish();
    return outcome(code, headError, target.position);
  }

  /**
   * Gives up the payload under way, if any (its `done` is never called): the caller's reader
   * takes the input over again. A reply under way goes on.
   */
  abandonPayload(): void {
    const p = this.pending;
    if (!p || this.handle === undefined) return;
    native().spliceAbandon!(this.handle);
    this.pending = undefined;
    p.target.finish();
  }

  /** Stops splicing for good (the connection is closing). A payload under way is abandoned. */
  close(): void {
    if (this.handle === undefined) return;
    native().spliceClose!(this.handle);
    this.handle = undefined;
    const p = this.pending;
    this.pending = undefined;
    p?.target.finish();
    const o = this.sendPending;
    this.sendPending = undefined;
    o?.source.finish();
  }

  private settled(code: number): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    p.target.finish();
    p.done(outcome(code, p.headError, p.target.position));
  }

  private sent(code: number): void {
    const p = this.sendPending;
    if (!p) return;
    this.sendPending = undefined;
    p.source.finish();
    p.done(sendOutcome(code));
  }
}

/**
 * The descriptor under a Node socket or server, for the native helper: undefined when it has none
 * (not yet connected or listening, or closed).
 */
export function socketFd(handleOwner: net.Socket | net.Server): number | undefined {
  const fd = (handleOwner as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

const ERRNO_NAMES = new Map(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

/** The name of errno `n` (positive), e.g. EPIPE. */
function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

/** spliceSend's code (splice.c): 0 sent, < 0 the errno that lost the stream. */
function sendOutcome(code: number): SendOutcome {
  if (code === 0) return { kind: 'sent' };
  return { kind: 'lost', message: `${errnoName(-code)} while sending a read reply from the file` };
}

/** spliceWrite's code (splice.c): 0 written, > 0 the file's errno, < 0 the socket's. */
function outcome(code: number, headError: BlockError | undefined, position: number): SpliceOutcome {
  if (code < 0) {
    const name = errnoName(-code);
    const message =
      name === 'ECONNRESET'
        ? 'the connection ended inside a write payload'
        : `${name} inside a write payload`;
    return { kind: 'lost', message };
  }
  if (headError) return { kind: 'consumed', error: headError };
  if (code === 0) return { kind: 'consumed', error: undefined };
  const name = ERRNO_NAMES.get(code) ?? 'EIO';
  const err = Object.assign(new Error(`${name}: splice into the file failed`), { code: name, errno: -code });
  return { kind: 'consumed', error: fromSystemError(err, `write to the host file near ${position} failed`) };
}
