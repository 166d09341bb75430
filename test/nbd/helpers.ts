/**
 * Test helpers for the NBD server:
 *
 * - `serve` starts an NbdServer on 127.0.0.1 with an ephemeral port and registers its close
 *   (node:test `after`), so no test leaves a server behind.
 * - `run` runs a real peer (nbdinfo, nbdcopy, qemu-img, qemu-io, fio) asynchronously: the server
 *   runs in this process, so a synchronous spawn would deadlock it. Every run has a timeout.
 * - `RawClient` speaks NBD byte by byte through our own codecs, for the bad-input tests that no
 *   real client will send.
 */
import { after } from 'node:test';
import { spawn } from 'node:child_process';
import net from 'node:net';
import type { BlockDevice, HostReadSource } from '../../src/block/index.js';
import {
  CHUNK_HEADER_SIZE,
  decodeChunkHeader,
  decodeExtendedChunkHeader,
  encodeExtendedRequest,
  EXTENDED_CHUNK_HEADER_SIZE,
  NBD_EXTENDED_REPLY_MAGIC,
  decodeChunkPayload,
  decodeOptionReplyHeader,
  decodeSimpleReply,
  encodeClientFlags,
  encodeInfoRequest,
  encodeMetaContextRequest,
  encodeOptionRequest,
  encodeRequest,
  GREETING_SIZE,
  NBD_INFO,
  NBD_OPT,
  NBD_REP,
  NBD_REPLY_FLAG_DONE,
  NBD_SIMPLE_REPLY_MAGIC,
  NbdExport,
  NbdServer,
  OPTION_REPLY_HEADER_SIZE,
  decodeInfo,
  type ChunkPayload,
  type NbdExportConfig,
  type NbdServerOptions,
  type RequestHeader,
} from '../../src/nbd/index.js';
import { ByteQueue } from '../../src/util/index.js';

export interface Served {
  server: NbdServer;
  port: number;
  uri: (name?: string) => string;
}

/** Starts a server for `exports`, closed after the current test file or suite. */
export async function serve(
  exports: NbdExportConfig[],
  opts: Omit<NbdServerOptions, 'exports'> = {},
): Promise<Served> {
  const server = new NbdServer({ ...opts, exports: exports.map((e) => new NbdExport(e)) });
  await server.listen({ host: '127.0.0.1', port: 0 });
  after(() => server.close());
  const port = server.port;
  return { server, port, uri: (name = exports[0]!.name) => `nbd://127.0.0.1:${port}/${name}` };
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
  cmd: string;
}

/**
 * Runs a tool to completion without blocking the event loop; kills it after `timeoutMs`. `cwd`
 * keeps the files some tools leave behind (fio's verify state) out of the repository.
 */
export function run(cmd: string, args: string[], timeoutMs = 30_000, cwd?: string): Promise<RunResult> {
  const line = [cmd, ...args].join(' ');
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (err) => {
      clearTimeout(timer);
      resolve({ status: 127, stdout, stderr: String(err), cmd: line });
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? (signal ? 128 : 1), stdout, stderr, cmd: line });
    });
  });
}

export function describeRun(r: RunResult): string {
  return `${r.cmd} -> exit ${r.status}\n${r.stdout}${r.stderr}`;
}

export { skipWithout } from '../helpers/tools.js';

/** `dev` with the read sources it gave counted (large replies sent from the file). */
export function countedHostAccess(dev: BlockDevice): { device: BlockDevice; sources: () => number } {
  let sources = 0;
  const device = Object.create(dev) as BlockDevice;
  device.readSource = (o: number, l: number): HostReadSource | undefined => {
    const src = dev.readSource?.(o, l);
    if (src) sources++;
    return src;
  };
  return { device, sources: () => sources };
}

/** Fails instead of hanging when `p` does not settle within `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A byte-level NBD client over our codecs. */
export class RawClient {
  readonly socket: net.Socket;
  private readonly q = new ByteQueue();
  private waiter: (() => void) | undefined;
  private ended = false;
  /** NBD_OPT_EXTENDED_HEADERS was negotiated: requests and replies use the extended forms. */
  extended = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.q.push(c);
      this.wake();
    });
    const end = (): void => {
      this.ended = true;
      this.wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Connects to 127.0.0.1:port, or to a Unix socket path. */
  static async connect(where: number | string): Promise<RawClient> {
    const s =
      typeof where === 'number' ? net.connect({ host: '127.0.0.1', port: where }) : net.connect(where);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    const c = new RawClient(s);
    after(() => c.close());
    return c;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Reads exactly n bytes; rejects when the server closes first. */
  async read(n: number): Promise<Buffer> {
    while (this.q.length < n) {
      if (this.ended) throw new Error(`connection closed with ${this.q.length} of ${n} bytes`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    return Buffer.from(this.q.take(n));
  }

  /** Resolves true when the server closes the connection within `ms`, false otherwise. */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      if (Date.now() > deadline) return false;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 20);
      });
    }
    return true;
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Reads the greeting and sends fixed newstyle + no zeroes. Returns the handshake flags. */
  async hello(): Promise<number> {
    const g = await this.read(GREETING_SIZE);
    this.write(encodeClientFlags({ fixedNewstyle: true, noZeroes: true }));
    return g.readUInt16BE(16);
  }

  /** Sends one option (unless `send` is false) and reads replies up to the final one (ACK or an error). */
  async option(option: number, data?: Buffer, send = true): Promise<{ type: number; data: Buffer }[]> {
    if (send) this.write(encodeOptionRequest(option, data));
    const replies: { type: number; data: Buffer }[] = [];
    for (;;) {
      const h = decodeOptionReplyHeader(await this.read(OPTION_REPLY_HEADER_SIZE));
      const r = { type: h.type, data: await this.read(h.length) };
      replies.push(r);
      if (r.type === NBD_REP.ACK || r.type >= 0x80000000) return replies;
    }
  }

  /**
   * The usual negotiation: structured replies and metadata contexts when asked, then GO.
   * Returns the export size and transmission flags.
   */
  async go(
    name: string,
    opts: { structured?: boolean; extended?: boolean; contexts?: string[] } = {},
  ): Promise<{ size: number; flags: number }> {
    await this.hello();
    if (opts.extended) {
      const r = await this.option(NBD_OPT.EXTENDED_HEADERS);
      if (r[0]?.type !== NBD_REP.ACK) throw new Error('extended headers refused');
    } else if (opts.structured) await this.option(NBD_OPT.STRUCTURED_REPLY);
    if (opts.contexts) {
      await this.option(NBD_OPT.SET_META_CONTEXT, encodeMetaContextRequest({ name, queries: opts.contexts }));
    }
    const replies = await this.option(
      NBD_OPT.GO,
      encodeInfoRequest({ name, requests: [NBD_INFO.BLOCK_SIZE] }),
    );
    const last = replies[replies.length - 1]!;
    if (last.type !== NBD_REP.ACK) throw new Error(`GO failed: ${last.type} ${last.data.toString()}`);
    this.extended = opts.extended ?? false;
    for (const r of replies) {
      const i = r.type === NBD_REP.INFO ? decodeInfo(r.data) : undefined;
      if (i?.type === 'export') return { size: i.size, flags: i.flags };
    }
    throw new Error('GO without NBD_INFO_EXPORT');
  }

  request(
    h: Omit<RequestHeader, 'offset' | 'length'> & { offset: number | bigint; length: number | bigint },
    payload?: Buffer,
  ): void {
    const head = this.extended ? encodeExtendedRequest(h) : encodeRequest({ ...h, length: Number(h.length) });
    this.write(payload ? Buffer.concat([head, payload]) : head);
  }

  /** Reads one simple reply (with `dataLength` bytes of data when it succeeded). */
  async simpleReply(dataLength = 0): Promise<{ error: number; handle: bigint; data: Buffer }> {
    const r = decodeSimpleReply(await this.read(16));
    const data = r.error === 0 && dataLength ? await this.read(dataLength) : Buffer.alloc(0);
    return { ...r, data };
  }

  /**
   * Reads the reply to one request when structured replies are on: a simple reply, or chunks up
   * to the one with NBD_REPLY_FLAG_DONE.
   */
  async reply(): Promise<{ handle: bigint; error: number; chunks: ChunkPayload[]; offsets: bigint[] }> {
    const head = await this.read(4);
    if (head.readUInt32BE(0) === NBD_SIMPLE_REPLY_MAGIC) {
      const r = decodeSimpleReply(Buffer.concat([head, await this.read(12)]));
      return { handle: r.handle, error: r.error, chunks: [], offsets: [] };
    }
    if (head.readUInt32BE(0) === NBD_EXTENDED_REPLY_MAGIC) {
      let buf: Buffer = Buffer.concat([head, await this.read(EXTENDED_CHUNK_HEADER_SIZE - 4)]);
      const chunks: ChunkPayload[] = [];
      const offsets: bigint[] = [];
      let error = 0;
      for (;;) {
        const h = decodeExtendedChunkHeader(buf);
        offsets.push(BigInt(h.offset));
        const p = decodeChunkPayload(h.type, await this.read(h.length));
        if (p.type === 'error' || p.type === 'error-offset') error = p.error;
        chunks.push(p);
        if (h.flags & NBD_REPLY_FLAG_DONE) return { handle: h.handle, error, chunks, offsets };
        buf = await this.read(EXTENDED_CHUNK_HEADER_SIZE);
      }
    }
    let buf: Buffer = Buffer.concat([head, await this.read(CHUNK_HEADER_SIZE - 4)]);
    const chunks: ChunkPayload[] = [];
    let handle = 0n;
    let error = 0;
    for (;;) {
      const h = decodeChunkHeader(buf);
      handle = h.handle;
      const p = decodeChunkPayload(h.type, await this.read(h.length));
      if (p.type === 'error' || p.type === 'error-offset') error = p.error;
      chunks.push(p);
      if (h.flags & NBD_REPLY_FLAG_DONE) return { handle, error, chunks, offsets: [] };
      buf = await this.read(CHUNK_HEADER_SIZE);
    }
  }
}

/** A device whose operations wait until `release()`, to hold requests in flight. */
export function gatedDevice(inner: BlockDevice): {
  device: BlockDevice;
  release: () => void;
  waiting: () => number;
} {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let waiting = 0;
  const hold = async (): Promise<void> => {
    gate ??= new Promise((r) => (open = r));
    waiting++;
    await gate;
    waiting--;
  };
  const device: BlockDevice = {
    get size() {
      return inner.size;
    },
    caps: inner.caps,
    read: async (o, b) => (await hold(), inner.read(o, b)),
    write: async (o, d, x) => (await hold(), inner.write(o, d, x)),
    flush: async () => (await hold(), inner.flush()),
    discard: async (o, n) => (await hold(), inner.discard(o, n)),
    writeZeroes: async (o, n, x) => (await hold(), inner.writeZeroes(o, n, x)),
    blockStatus: (o, n) => inner.blockStatus(o, n),
    close: () => inner.close(),
  };
  return {
    device,
    release: () => {
      open?.();
      gate = undefined;
    },
    waiting: () => waiting,
  };
}
