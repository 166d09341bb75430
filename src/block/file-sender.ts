/**
 * Read replies sent from a host file to a TCP socket without the data entering the process
 * (native/sendfile.c, sendfile(2)).
 *
 * Read into a buffer and sent, a reply's bytes are copied out of the page cache and into the
 * socket. Sent from the file, the socket takes the page-cache pages by reference and the server
 * copies nothing.
 *
 * The caller owns the socket's output: it sends a reply here only when its own writer has nothing
 * queued, and queues nothing behind it until the sender reports the reply sent. Two writers of
 * one stream would tear it apart. A reply whose header is out cannot be taken back: any failure
 * while sending it loses the stream.
 */
import os from 'node:os';
import type { HostReadSource } from './device.js';
import { native } from './native.js';

export type SendOutcome =
  /** The whole reply is on the socket. */
  | { kind: 'sent' }
  /** The socket or the file failed mid-reply: the stream is lost. */
  | { kind: 'lost'; message: string };

export class FileSender {
  private pending: { source: HostReadSource; done: (o: SendOutcome) => void } | undefined;

  private constructor(private handle: unknown) {}

  /**
   * A sender for the socket whose descriptor is `fd`, or undefined where sendfile is not
   * available (no native helper, or it failed to open): then the caller sends from buffers.
   */
  static open(fd: number): FileSender | undefined {
    const n = native();
    if (!n.sendFileOpen || !n.sendFile || !n.sendFileClose) return undefined;
    let sender: FileSender | undefined;
    try {
      const handle = n.sendFileOpen(fd, (code) => sender?.sent(code));
      sender = new FileSender(handle);
      return sender;
    } catch {
      return undefined;
    }
  }

  /** A reply is under way: the caller's writer must queue nothing on the socket. */
  get sending(): boolean {
    return this.pending !== undefined;
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
    if (this.handle === undefined) throw new Error('FileSender: closed');
    if (this.pending) throw new Error('FileSender: a reply is under way');
    const code = native().sendFile!(this.handle, header, source.fd, source.position, length);
    if (code === null) {
      this.pending = { source, done };
      return undefined;
    }
    source.finish();
    return sendOutcome(code);
  }

  /** Stops for good (the connection is closing); a reply under way is given up unreported. */
  close(): void {
    if (this.handle === undefined) return;
    native().sendFileClose!(this.handle);
    this.handle = undefined;
    const p = this.pending;
    this.pending = undefined;
    p?.source.finish();
  }

  private sent(code: number): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    p.source.finish();
    p.done(sendOutcome(code));
  }
}

const ERRNO_NAMES = new Map(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

/** sendFile's code (sendfile.c): 0 sent, < 0 the errno that lost the stream. */
function sendOutcome(code: number): SendOutcome {
  if (code === 0) return { kind: 'sent' };
  const name = ERRNO_NAMES.get(-code) ?? `errno ${-code}`;
  return { kind: 'lost', message: `${name} while sending a read reply from the file` };
}
