/**
 * readSocket (util/socket-input.ts): an accepted TCP socket read into a staging slab and, when
 * the reader asks, straight into its own buffers. A small length-prefixed protocol stands in for
 * the transports: 4-byte length, then that many bytes; payloads of 64 KiB and more are read
 * directly. Every byte must arrive in order, whatever sizes the sender's writes have, with the
 * reader keeping nothing of a staged chunk past its `received` call (as the contract says).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { ByteQueue, readSocket, type InputReader } from '../../src/util/index.js';

/** Frames: u32 length + payload. Collects the payloads it parsed. */
class FrameReader implements InputReader {
  readonly q = new ByteQueue();
  readonly frames: Buffer[] = [];
  directReads = 0;
  stagedReads = 0;
  private want: number | undefined;
  private buf: Buffer | undefined;
  private filled = 0;

  directTarget(): Buffer | undefined {
    if (this.want === undefined) return undefined;
    if (!this.buf) {
      if (this.want - this.q.length < 64 * 1024) return undefined;
      this.buf = Buffer.alloc(this.want);
      this.filled = this.q.length;
      this.q.copyInto(this.buf, 0, this.filled);
    }
    return this.buf.subarray(this.filled);
  }

  received(chunk: Buffer | undefined, n: number): void {
    if (chunk) {
      assert.equal(chunk.length, n);
      this.stagedReads++;
      this.q.push(chunk);
      this.parse();
      this.q.own();
      return;
    } else {
      this.directReads++;
      assert.ok(this.buf, 'direct bytes arrive only when a target was named');
      this.filled += n;
    }
    this.parse();
  }

  private parse(): void {
    for (;;) {
      if (this.want === undefined) {
        if (this.q.length < 4) return;
        this.want = this.q.take(4).readUInt32BE(0);
      }
      if (this.buf) {
        if (this.filled < this.want) return;
        this.frames.push(this.buf);
        this.buf = undefined;
      } else {
        if (this.q.length < this.want) return;
        // A copy: a staged chunk is overwritten by the next read.
        this.frames.push(Buffer.from(this.q.take(this.want)));
      }
      this.want = undefined;
    }
  }
}

async function serve(onSocket: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const server = net.createServer(onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

test('frames of every size arrive intact, large payloads straight into their buffer', async () => {
  const sizes = [0, 1, 3, 4096, 65535, 65536, 70000, 1 << 20, 5, 300_000, 2 << 20, 17];
  for (let i = 0; i < 40; i++) sizes.push(crypto.randomInt(0, 400_000));
  const payloads = sizes.map((n) => crypto.randomBytes(n));
  const wire = Buffer.concat(
    payloads.flatMap((p) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(p.length);
      return [h, p];
    }),
  );
  const reader = new FrameReader();
  let used: boolean | undefined;
  const ended = new Promise<void>((resolve) => {
    void serve((s) => {
      used = readSocket(s, reader);
      s.on('end', () => {
        s.end();
        resolve();
      });
    }).then(({ port, close }) => {
      const c = net.connect(port, '127.0.0.1', () => {
        // Writes of random sizes, so frames straddle reads in every way.
        let at = 0;
        const pump = () => {
          while (at < wire.length) {
            const n = Math.min(wire.length - at, crypto.randomInt(1, 200_000));
            const ok = c.write(wire.subarray(at, at + n));
            at += n;
            if (!ok) return void c.once('drain', pump);
          }
          c.end();
        };
        pump();
      });
      c.on('close', close);
    });
  });
  await ended;
  assert.equal(used, true, 'this Node reads accepted sockets into user buffers');
  assert.equal(reader.frames.length, payloads.length);
  payloads.forEach((p, i) => assert.ok(reader.frames[i]!.equals(p), `frame ${i} (${p.length} bytes)`));
  assert.ok(reader.directReads > 0, 'some bytes went straight to a payload buffer');
  assert.ok(reader.stagedReads > 0);
});

test('pause and resume work as with data events; EOF still ends the socket', async () => {
  const reader = new FrameReader();
  let sock!: net.Socket;
  const { port, close } = await serve((s) => {
    sock = s;
    readSocket(s, reader);
    s.pause();
  });
  const c = net.connect(port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  const frame = Buffer.from([0, 0, 0, 3, 7, 8, 9]);
  c.write(frame);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(reader.frames.length, 0, 'nothing is read while paused');
  const ended = new Promise((r) => sock.once('end', r));
  sock.resume();
  c.end();
  await ended;
  assert.deepEqual(reader.frames, [Buffer.from([7, 8, 9])]);
  sock.destroy();
  close();
});

test('a socket that already has a data listener is left to it', async () => {
  const { port, close } = await serve((s) => {
    s.on('data', () => {});
    assert.equal(readSocket(s, new FrameReader()), false);
    s.destroy();
  });
  const c = net.connect(port, '127.0.0.1');
  await new Promise((r) => c.once('close', r));
  close();
});
