/**
 * Reads a TCP socket into buffers that the reader chooses, instead of through the socket's
 * readable stream.
 *
 * Through the stream, every read lands in a buffer Node allocates for it, then travels through
 * `push`, the readable state and a 'data' event. Here reads land in one of two places:
 * - a staging buffer of STAGE_READ bytes, the same for every read: the reader gets a view of the
 *   bytes just read, valid only during its `received` call (it copies what it keeps: a buffer
 *   allocated per read was, at 4 KiB writes, most of the garbage collector's work);
 * - or, when the reader names one (`directTarget`), straight into a buffer of its own: the rest of
 *   a large payload lands in the buffer the payload is written from, with no copy in user space.
 *
 * This uses net.Socket's `onread` mechanism (a user buffer and a callback, public for client
 * sockets since Node 12). A server's accepted socket is created by Node without that option, so
 * the same three fields are set on it here, found by their symbol descriptions; where a Node
 * version does not have them, or the socket is not a plain TCP socket, `readSocket` says so and
 * the caller falls back to 'data' events. Pause, resume and 'end' behave as with 'data' events.
 *
 * Concurrency: the callback runs for each read, and `directTarget` is asked right after it, so a
 * reader that parsed everything it got in the callback names its next target from its current
 * state.
 */
import type net from 'node:net';

export interface InputReader {
  /**
   * A buffer to read the next bytes straight into (at most its length is read), or undefined to
   * read them into the staging buffer.
   */
  directTarget(): Buffer | undefined;
  /**
   * `n` bytes arrived: `chunk` is a view of them in the staging buffer (overwritten by the next
   * read: nothing of it may be kept after this call returns), or undefined when they went to the
   * start of the buffer `directTarget` returned last.
   */
  received(chunk: Buffer | undefined, n: number): void;
}

/**
 * The most one staged read takes: enough for many small requests at once, and little enough that
 * a large payload behind a header is left for its own buffer (`directTarget`).
 */
const STAGE_READ = 64 << 10;

interface UserBufferSlots {
  kBuffer: symbol;
  kBufferCb: symbol;
  kBufferGen: symbol;
  handle: { useUserBuffer(buf: Uint8Array): void };
}

function userBufferSlots(socket: net.Socket): UserBufferSlots | undefined {
  const syms = Object.getOwnPropertySymbols(socket);
  const find = (d: string) => syms.find((s) => s.description === d);
  const kBuffer = find('kBuffer');
  const kBufferCb = find('kBufferCb');
  const kBufferGen = find('kBufferGen');
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } })._handle;
  if (!kBuffer || !kBufferCb || !kBufferGen || !handle || typeof handle.useUserBuffer !== 'function') {
    return undefined;
  }
  const slots = socket as unknown as Record<symbol, unknown>;
  // Only a socket that is not already reading into a user buffer, and has no 'data' listener.
  if (slots[kBuffer] || socket.listenerCount('data') > 0) return undefined;
  return { kBuffer, kBufferCb, kBufferGen, handle: handle as UserBufferSlots['handle'] };
}

/**
 * Starts reading `socket` for `reader`. Returns false (and changes nothing) when this Node or
 * this socket cannot read into user buffers; the caller then listens for 'data'.
 */
export function readSocket(socket: net.Socket, reader: InputReader): boolean {
  const slots = userBufferSlots(socket);
  if (!slots) return false;
  const stage = Buffer.allocUnsafeSlow(STAGE_READ);
  let direct: Buffer | undefined;
  const next = (): Buffer => {
    direct = reader.directTarget();
    if (direct && direct.length > 0) return direct;
    direct = undefined;
    return stage;
  };
  const onRead = (n: number): void => {
    if (direct) {
      direct = undefined;
      reader.received(undefined, n);
      return;
    }
    reader.received(stage.subarray(0, n), n);
  };
  const s = socket as unknown as Record<symbol, unknown>;
  const first = next();
  s[slots.kBuffer] = first;
  s[slots.kBufferCb] = onRead;
  s[slots.kBufferGen] = next;
  slots.handle.useUserBuffer(first);
  return true;
}
