/**
 * Test helpers for the iSCSI target:
 *
 * - `FakeRouter`: a ScsiTaskRouter over an in-memory disk that knows the handful of commands the
 *   transport tests need (TEST UNIT READY, INQUIRY, READ/WRITE 10, a "slow" vendor opcode 0xC0
 *   that waits until released), and records what the transport told it (nexus losses, task
 *   management). The real core has its own tests; these tests are about the transport.
 * - `serveIscsi`: an IscsiServer on 127.0.0.1 with an ephemeral port, closed after the test file.
 * - `RawInitiator`: an initiator that speaks PDUs through our own codecs, byte by byte, for the
 *   bad-input tests that no real initiator sends.
 * - `skipWithout`: whether the real peers (iscsi-inq, qemu-io...) are installed; `run` (the NBD
 *   tests' helper) runs them without blocking the event loop.
 */
import { after } from 'node:test';
import net from 'node:net';
import {
  ScsiStatus,
  type ItNexus,
  type ScsiCommand,
  type ScsiResponse,
  type ScsiTaskRouter,
  type TaskManagementRequest,
  type TaskManagementResponse,
} from '../../src/scsi/index.js';
import {
  bhsOpcode,
  decodeLoginResponse,
  encodeLoginRequest,
  encodeTextPairs,
  decodeTextPairs,
  encodeScsiCommand,
  encodeDataOut,
  IscsiServer,
  OP,
  PduParser,
  padLength,
  STAGE,
  type IscsiServerOptions,
  type IscsiTargetConfig,
  type ParsedPdu,
  type TextPairs,
} from '../../src/iscsi/index.js';
import { crc32c } from '../../src/util/index.js';

export const TARGET = 'iqn.2026-11.io.vdisk.test:disk';
export const INITIATOR = 'iqn.2026-11.io.vdisk.test:initiator';

export class FakeRouter implements ScsiTaskRouter {
  readonly disk: Buffer;
  readonly lost: string[] = [];
  readonly tmfs: TaskManagementRequest[] = [];
  readonly executed: ScsiCommand[] = [];
  private slow: { cmd: ScsiCommand; resolve: (r: ScsiResponse) => void }[] = [];
  running = 0;

  constructor(size = 1024 * 1024) {
    this.disk = Buffer.alloc(size);
  }

  /** Commands with opcode 0xC0 wait here until released. */
  get waiting(): number {
    return this.slow.length;
  }

  releaseSlow(): void {
    for (const s of this.slow.splice(0)) s.resolve({ status: ScsiStatus.GOOD, transferLength: 0 });
  }

  async execute(cmd: ScsiCommand): Promise<ScsiResponse> {
    this.executed.push(cmd);
    this.running++;
    try {
      return await this.run(cmd);
    } finally {
      this.running--;
    }
  }

  private run(cmd: ScsiCommand): Promise<ScsiResponse> | ScsiResponse {
    const c = cmd.cdb;
    switch (c[0]) {
      case 0x00:
        return { status: ScsiStatus.GOOD, transferLength: 0 };
      case 0x12: {
        const data = Buffer.alloc(36);
        data[2] = 6;
        data.write('VDISK   fake router     0001', 8, 'latin1');
        const alloc = c.readUInt16BE(3);
        return {
          status: ScsiStatus.GOOD,
          dataIn: data.subarray(0, Math.min(36, alloc)),
          transferLength: Math.min(36, alloc),
        };
      }
      case 0x28: {
        const lba = c.readUInt32BE(2);
        const len = c.readUInt16BE(7) * 512;
        return {
          status: ScsiStatus.GOOD,
          dataIn: Buffer.from(this.disk.subarray(lba * 512, lba * 512 + len)),
          transferLength: len,
        };
      }
      case 0x2a: {
        const lba = c.readUInt32BE(2);
        const len = c.readUInt16BE(7) * 512;
        const data = cmd.dataOut ?? Buffer.alloc(0);
        data.copy(this.disk, lba * 512, 0, Math.min(len, data.length));
        return { status: ScsiStatus.GOOD, transferLength: len };
      }
      case 0xc0:
        return new Promise((resolve) => this.slow.push({ cmd, resolve }));
      default: {
        const sense = Buffer.alloc(18);
        sense[0] = 0x70;
        sense[2] = 0x05;
        sense[7] = 10;
        sense[12] = 0x20;
        return { status: ScsiStatus.CHECK_CONDITION, sense, transferLength: 0 };
      }
    }
  }

  async taskManagement(req: TaskManagementRequest): Promise<TaskManagementResponse> {
    this.tmfs.push(req);
    if (req.fn === 'abort-task') {
      const i = this.slow.findIndex(
        (s) => s.cmd.tag === req.referencedTag && s.cmd.nexus.key === req.nexus.key,
      );
      if (i >= 0) {
        const [s] = this.slow.splice(i, 1);
        s!.resolve({ status: ScsiStatus.TASK_ABORTED, transferLength: 0, aborted: true });
      }
    }
    if (req.fn === 'query-task') {
      return this.slow.some((s) => s.cmd.tag === req.referencedTag)
        ? 'function-succeeded'
        : 'function-complete';
    }
    return 'function-complete';
  }

  nexusLost(nexus: ItNexus): void {
    this.lost.push(nexus.key);
    for (const s of this.slow.splice(0)) {
      if (s.cmd.nexus.key === nexus.key)
        s.resolve({ status: ScsiStatus.TASK_ABORTED, transferLength: 0, aborted: true });
      else this.slow.push(s);
    }
  }
}

export interface Served {
  server: IscsiServer;
  port: number;
  router: FakeRouter;
}

export async function serveIscsi(
  target: Partial<IscsiTargetConfig> = {},
  opts: Omit<IscsiServerOptions, 'targets'> = {},
): Promise<Served> {
  const router = (target.router as FakeRouter | undefined) ?? new FakeRouter();
  const server = new IscsiServer({ ...opts, targets: [{ name: TARGET, ...target, router }] });
  const [p] = await server.listen([{ host: '127.0.0.1', port: 0 }]);
  after(() => server.close(100));
  return { server, port: p!.port, router };
}

/** Waits until `cond` holds (polling), or fails after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export class RawInitiator {
  readonly socket: net.Socket;
  readonly parser = new PduParser({ headerDigest: false, dataDigest: false, maxDataSegmentLength: 1 << 24 });
  private readonly pdus: ParsedPdu[] = [];
  private waiter: (() => void) | undefined;
  ended = false;
  cmdSN = 1;
  expStatSN = 0;
  itt = 1;
  headerDigest = false;
  dataDigest = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.parser.push(c);
      for (let p = this.parser.next(); p; p = this.parser.next()) this.pdus.push(p);
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

  static async connect(port: number): Promise<RawInitiator> {
    const s = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    s.setNoDelay(true);
    const c = new RawInitiator(s);
    after(() => s.destroy());
    return c;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Sends a header (48 bytes) and data with padding and the negotiated digests. */
  send(
    bhs: Buffer,
    data: Buffer = Buffer.alloc(0),
    opts: { badHeaderDigest?: boolean; badDataDigest?: boolean } = {},
  ): void {
    const parts: Buffer[] = [bhs];
    if (this.headerDigest) {
      const d = Buffer.alloc(4);
      d.writeUInt32LE((crc32c(bhs) ^ (opts.badHeaderDigest ? 1 : 0)) >>> 0, 0);
      parts.push(d);
    }
    if (data.length) {
      const pad = Buffer.alloc(padLength(data.length));
      parts.push(data, pad);
      if (this.dataDigest) {
        const d = Buffer.alloc(4);
        d.writeUInt32LE((crc32c(Buffer.concat([data, pad])) ^ (opts.badDataDigest ? 1 : 0)) >>> 0, 0);
        parts.push(d);
      }
    }
    this.socket.write(Buffer.concat(parts));
  }

  /** The next PDU from the target, or undefined when the connection ended first. */
  async next(ms = 3000): Promise<ParsedPdu | undefined> {
    const end = Date.now() + ms;
    for (;;) {
      const p = this.pdus.shift();
      if (p) {
        if (p.kind === 'pdu' && [0x21, 0x25, 0x22, 0x24, 0x26, 0x23, 0x3f, 0x32].includes(bhsOpcode(p.bhs))) {
          if (bhsOpcode(p.bhs) !== 0x25 || (p.bhs[1]! & 1) !== 0)
            this.expStatSN = (p.bhs.readUInt32BE(24) + 1) >>> 0;
        }
        return p;
      }
      if (this.ended) return undefined;
      const left = end - Date.now();
      if (left <= 0) throw new Error('no PDU from the target in time');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, left);
      });
    }
  }

  /** The next PDU, asserted to be a complete PDU. */
  async expect(opcode: number, ms = 3000): Promise<{ bhs: Buffer; data: Buffer }> {
    const p = await this.next(ms);
    if (!p) throw new Error(`connection ended while waiting for opcode 0x${opcode.toString(16)}`);
    if (p.kind !== 'pdu') throw new Error('oversized PDU from the target');
    if (bhsOpcode(p.bhs) !== opcode) {
      throw new Error(
        `opcode 0x${bhsOpcode(p.bhs).toString(16)} where 0x${opcode.toString(16)} was expected`,
      );
    }
    return { bhs: p.bhs, data: p.data };
  }

  /** Resolves true when the target closes the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!this.ended && Date.now() < end) {
      this.pdus.length = 0;
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.ended;
  }

  /** One Login Request; returns the response's header fields and text. */
  async loginStep(
    pairs: TextPairs,
    o: { csg: number; nsg: number; transit: boolean; isid?: number; tsih?: number; cid?: number },
  ): Promise<{
    status: number;
    transit: boolean;
    nsg: number;
    tsih: number;
    keys: Map<string, string>;
    statSN: number;
  }> {
    const data = encodeTextPairs(pairs);
    const bhs = encodeLoginRequest({
      transit: o.transit,
      continue: false,
      csg: o.csg,
      nsg: o.nsg,
      versionMax: 0,
      versionMin: 0,
      dataSegmentLength: data.length,
      isid: o.isid ?? 0x400001370000,
      tsih: o.tsih ?? 0,
      itt: this.itt,
      cid: o.cid ?? 0,
      cmdSN: this.cmdSN,
      expStatSN: this.expStatSN,
    });
    this.send(bhs, data);
    const r = await this.expect(0x23);
    const d = decodeLoginResponse(r.bhs);
    this.expStatSN = (d.statSN + 1) >>> 0;
    return {
      status: d.status,
      transit: d.transit,
      nsg: d.nsg,
      tsih: d.tsih,
      keys: new Map(decodeTextPairs(r.data)),
      statSN: d.statSN,
    };
  }

  /** A complete login with AuthMethod=None straight to full feature phase. */
  async login(
    extra: TextPairs = [],
    o: { isid?: number; target?: string; initiator?: string } = {},
  ): Promise<number> {
    const r = await this.loginStep(
      [
        ['InitiatorName', o.initiator ?? INITIATOR],
        ['TargetName', o.target ?? TARGET],
        ['SessionType', 'Normal'],
        ['AuthMethod', 'None'],
      ],
      { csg: STAGE.SECURITY, nsg: STAGE.OPERATIONAL, transit: true, isid: o.isid },
    );
    if (r.status !== 0) throw new Error(`login failed: status 0x${r.status.toString(16)}`);
    const declared = extra.some(([k]) => k === 'MaxRecvDataSegmentLength');
    const op = await this.loginStep(declared ? extra : [['MaxRecvDataSegmentLength', '262144'], ...extra], {
      csg: STAGE.OPERATIONAL,
      nsg: STAGE.FULL_FEATURE,
      transit: true,
      isid: o.isid,
    });
    if (op.status !== 0) throw new Error(`login failed: status 0x${op.status.toString(16)}`);
    this.headerDigest = op.keys.get('HeaderDigest') === 'CRC32C';
    this.dataDigest = op.keys.get('DataDigest') === 'CRC32C';
    this.parser.settings = {
      ...this.parser.settings,
      headerDigest: this.headerDigest,
      dataDigest: this.dataDigest,
    };
    return op.tsih;
  }

  /** A SCSI command PDU (non-immediate unless said); returns its ITT. */
  command(
    cdb: number[],
    o: {
      read?: boolean;
      write?: boolean;
      edtl?: number;
      data?: Buffer;
      final?: boolean;
      immediate?: boolean;
      cmdSN?: number;
    } = {},
  ): number {
    const itt = this.itt++;
    const data = o.data ?? Buffer.alloc(0);
    const c = Buffer.alloc(16);
    Buffer.from(cdb).copy(c);
    this.send(
      encodeScsiCommand({
        immediate: o.immediate ?? false,
        final: o.final ?? true,
        read: o.read ?? false,
        write: o.write ?? false,
        attr: 1,
        ahsLength: 0,
        dataSegmentLength: data.length,
        lun: 0n,
        itt,
        expectedDataTransferLength: o.edtl ?? 0,
        cmdSN: o.cmdSN ?? this.cmdSN,
        expStatSN: this.expStatSN,
        cdb: c,
      }),
      data,
    );
    if (!o.immediate && o.cmdSN === undefined) this.cmdSN = (this.cmdSN + 1) >>> 0;
    return itt;
  }

  /**
   * Runs one SCSI command to its end: immediate data up to 8 KiB, R2Ts answered from `o.data`,
   * Data-In collected. Resolves to the status and the Data-In bytes.
   */
  async scsi(
    cdb: number[],
    o: { data?: Buffer; read?: number } = {},
  ): Promise<{ status: number; data: Buffer }> {
    const immediate = o.data && o.data.length <= 8192 ? o.data : undefined;
    const itt = this.command(cdb, {
      ...(o.data ? { write: true, edtl: o.data.length, data: immediate } : {}),
      ...(o.read ? { read: true, edtl: o.read } : {}),
    });
    const parts: Buffer[] = [];
    for (;;) {
      const p = await this.next(5000);
      if (!p) throw new Error(`no answer to CDB ${cdb[0]!.toString(16)}`);
      if (p.kind !== 'pdu' || p.bhs.readUInt32BE(16) !== itt) continue;
      const op = p.bhs[0]! & 0x3f;
      if (op === OP.R2T && o.data) {
        const ttt = p.bhs.readUInt32BE(20);
        const offset = p.bhs.readUInt32BE(40);
        const len = p.bhs.readUInt32BE(44);
        this.dataOut(itt, ttt, offset, o.data.subarray(offset, offset + len));
      } else if (op === OP.DATA_IN) {
        parts.push(p.data);
        if (p.bhs[1]! & 0x01) return { status: p.bhs[3]!, data: Buffer.concat(parts) };
      } else if (op === OP.SCSI_RESPONSE) {
        return { status: p.bhs[3]!, data: Buffer.concat(parts) };
      }
    }
  }

  dataOut(
    itt: number,
    ttt: number,
    offset: number,
    data: Buffer,
    o: { final?: boolean; dataSN?: number } = {},
  ): void {
    this.send(
      encodeDataOut({
        final: o.final ?? true,
        dataSegmentLength: data.length,
        lun: 0n,
        itt,
        ttt,
        expStatSN: this.expStatSN,
        dataSN: o.dataSN ?? 0,
        bufferOffset: offset,
      }),
      data,
    );
  }
}

export { run, describeRun, type RunResult } from '../nbd/helpers.js';

export { skipWithout } from '../helpers/tools.js';
