/**
 * The output side of a connection: PDUs onto the socket, with digests when negotiated and as few
 * system calls as possible.
 *
 * - A header is carved from 1 MiB slabs (`headerBuffer`): 48 bytes, plus 4 for the header digest
 *   when it is on, so that the digest is computed and written in place. Node pools only
 *   allocations under 4 KiB, and a Data-In header per 8 KiB..256 KiB of read data would otherwise
 *   churn small ArrayBuffers.
 * - Data segments go out as given (a view of the SCSI core's read buffer: no copy), followed by
 *   a shared zero pad and the data digest (CRC32C over data and pad, chained, no concatenation).
 * - Everything written in one turn of the event loop leaves in one writev: the socket is corked
 *   on the first write and uncorked in setImmediate (as the NBD server does).
 *
 * `queuedBytes` is what the socket holds and has not sent; the connection stops taking new
 * commands while it is above its cap (a reader that does not read).
 */
import type net from 'node:net';
import { crc32c, type BusyPoll } from '../util/index.js';
import { BHS_SIZE, padLength } from './bhs.js';

const SLAB_SIZE = 1024 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let used = 0;

const PAD = Buffer.alloc(4);

function carve(size: number): Buffer {
  if (used + size > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    used = 0;
  }
  const b = slab.subarray(used, used + size);
  used += (size + 7) & ~7;
  return b;
}

export class PduWriter {
  headerDigest = false;
  dataDigest = false;
  private corked = false;
  /** PDUs written (for stats). */
  pdus = 0;

  constructor(
    private readonly socket: net.Socket,
    /** The server's event-loop polling (util/busy-poll.ts), told of every PDU sent. */
    private readonly poll?: BusyPoll,
  ) {}

  /** A zeroed header buffer: 48 bytes, or 52 when header digests are on (room for the digest). */
  headerBuffer(): Buffer {
    const b = carve(this.headerDigest ? BHS_SIZE + 4 : BHS_SIZE);
    b.fill(0);
    return b;
  }

  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /**
   * Writes one PDU: `bhs` from headerBuffer() (or any 48-byte buffer) and its data segment,
   * whose length the header's DataSegmentLength already says. `onSent` runs once the socket no
   * longer needs `data` (written out, or the socket is gone); it is how a pooled read buffer goes
   * back to the SCSI core.
   */
  send(bhs: Buffer, data?: Buffer, onSent?: () => void): void {
    const s = this.socket;
    if (s.destroyed || s.writableEnded) {
      onSent?.();
      return;
    }
    this.poll?.activity();
    if (!this.corked) {
      this.corked = true;
      s.cork();
      setImmediate(this.uncork);
    }
    this.pdus++;
    if (this.headerDigest) {
      let h: Buffer;
      if (bhs.length >= BHS_SIZE + 4) h = bhs.subarray(0, BHS_SIZE + 4);
      else {
        h = Buffer.allocUnsafe(BHS_SIZE + 4);
        bhs.copy(h, 0, 0, BHS_SIZE);
      }
      h.writeUInt32LE(crc32c(h.subarray(0, BHS_SIZE)), BHS_SIZE);
      s.write(h);
    } else s.write(bhs.length === BHS_SIZE ? bhs : bhs.subarray(0, BHS_SIZE));
    if (!data || data.length === 0) {
      onSent?.();
      return;
    }
    if (onSent) s.write(data, () => onSent());
    else s.write(data);
    const pad = padLength(data.length);
    if (pad) s.write(PAD.subarray(0, pad));
    if (this.dataDigest) {
      let crc = crc32c(data);
      if (pad) crc = crc32c(PAD.subarray(0, pad), crc);
      const d = carve(4);
      d.writeUInt32LE(crc, 0);
      s.write(d);
    }
  }

  private readonly uncork = (): void => {
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  /** Sends what is corked now (before an end()). */
  flush(): void {
    if (this.corked) this.uncork();
  }
}
