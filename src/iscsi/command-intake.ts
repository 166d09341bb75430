/**
 * The SCSI commands of one connection: SCSI Command and Data-Out PDUs in, R2T, Data-In and SCSI
 * Response PDUs out, and the ScsiTaskRouter in between (command-task.ts has one command's state).
 *
 * Checks at the edge (RFC 7143 §11.3, §11.7, §13): immediate data only when ImmediateData=Yes
 * and within FirstBurstLength and the Expected Data Transfer Length; unsolicited Data-Out only
 * when InitialR2T=No; a Data-Out for a command we no longer hold (aborted, or never taken because
 * its CmdSN was outside the window) is dropped silently, as its command was; a Data-Out out of
 * sequence is a protocol error that ERL 0 cannot recover from (Reject, then drop).
 *
 * Delivery: a command reaches the core when its CmdSN turn came (command-window.ts) and all its
 * data is in. Simple and head-of-queue commands go as soon as they are ready; an ORDERED command
 * waits until every command before it went, and holds back every command after it (SAM-5 §8.6).
 *
 * Responses: read data leaves in Data-In PDUs of at most the initiator's
 * MaxRecvDataSegmentLength, as views of the core's buffer; the status rides on the last Data-In
 * (S bit) when there is no sense data (§11.7.3), else a SCSI Response follows with the sense
 * (§11.4.7). Residuals: command-task.ts `residual`.
 *
 * Bounded memory: write buffers count against `maxHeldBytes`; a command whose R2Ts would pass it
 * waits (holding only its first burst) until others finish. Unsolicited data is bounded by the
 * window times FirstBurstLength. Reads running in the core count against the same amount,
 * separately (readFits).
 */
import type { ItNexus, ScsiResponse, ScsiTaskRouter } from '../scsi/index.js';
import { ScsiStatus } from '../scsi/index.js';
import { returnWriteBuffer, takeWriteBuffer } from '../block/index.js';
import { extendedCdb, type Ahs } from './ahs.js';
import { CommandTask, residual, taskAttribute } from './command-task.js';
import { REJECT_REASON, RESERVED_TAG, SCSI_RESPONSE } from './constants.js';
import { decodeDataOut } from './data-out.js';
import { encodeDataIn } from './data-in.js';
import { decodeLun } from './lun.js';
import type { OperationalParams } from './operational-keys.js';
import type { PduWriter } from './pdu-writer.js';
import { encodeR2t } from './r2t.js';
import { decodeScsiCommand } from './scsi-command.js';
import { encodeScsiResponse, senseDataSegment } from './scsi-response.js';
import type { Session } from './session.js';
import {
  DATA_OFFSET,
  DATA_PHASE,
  INTERNAL_TARGET_FAILURE,
  INVALID_FIELD_IN_CDB,
  PROTOCOL_CRC_ERROR,
  TOO_MUCH_DATA,
} from './transport-sense.js';

export interface IntakeHost {
  readonly writer: PduWriter;
  readonly session: Session;
  readonly nexus: ItNexus;
  readonly router: ScsiTaskRouter;
  /** The StatSN for a status-bearing PDU (advances). */
  takeStatSN(): number;
  /** The StatSN a PDU that carries no status reports (does not advance). */
  peekStatSN(): number;
  reject(bhs: Buffer, reason: number): void;
  /** Called when commands finish (for draining and flow control). */
  changed(): void;
  log(message: string): void;
  readonly maxCommandBytes: number;
  readonly maxHeldBytes: number;
  /** The socket is gone: nothing more is sent. */
  readonly outputClosed: boolean;
}

export class CommandIntake {
  readonly tasks = new Map<number, CommandTask>();
  private turnQueue: CommandTask[] = [];
  private orderedWaiting = 0;
  private starved: CommandTask[] = [];
  heldBytes = 0;
  /** The part of heldBytes in first-burst-only buffers. */
  private partialBytes = 0;
  /** Expected Data Transfer Lengths of the reads the core runs (readFits). */
  readBytes = 0;
  /** Commands handed to the core and not yet answered. */
  running = 0;
  private nextTtt = 1;

  constructor(private readonly host: IntakeHost) {}

  private get params(): OperationalParams {
    return this.host.session.params;
  }

  /** A SCSI Command PDU (§11.3). */
  onCommand(bhs: Buffer, ahs: readonly Ahs[], data: Buffer, dataPooled = false): void {
    const p = decodeScsiCommand(bhs);
    const window = this.host.session.window;
    // §4.2.2.1: a non-immediate command outside the window is ignored, silently.
    if (!p.immediate && !window.inWindow(p.cmdSN)) return;
    const params = this.params;
    let problem: string | undefined;
    let reason: number = REJECT_REASON.PROTOCOL_ERROR;
    if (p.immediate && window.active >= 2 * window.size) {
      // Immediate commands skip the window; past twice its size they are refused (§11.17.1).
      this.host.reject(bhs, REJECT_REASON.IMMEDIATE_COMMAND_REJECT);
      return;
    }
    if (this.tasks.has(p.itt)) {
      problem = `ITT 0x${p.itt.toString(16)} is already in use`;
      reason = REJECT_REASON.TASK_IN_PROGRESS;
    } else if (data.length > 0 && !p.write) problem = 'immediate data on a command that writes nothing';
    else if (data.length > 0 && !params.immediateData) problem = 'immediate data with ImmediateData=No';
    else if (data.length > p.expectedDataTransferLength)
      problem = 'more immediate data than the transfer length';
    else if (data.length > params.firstBurstLength) problem = 'more immediate data than FirstBurstLength';
    else if (!p.final && (!p.write || params.initialR2T)) problem = 'F=0 without unsolicited data allowed';
    if (problem) {
      this.host.reject(bhs, reason);
      // The command's number is used up all the same, so that later commands are not stuck.
      window.take(p.cmdSN, p.immediate, noop);
      return;
    }
    const cdb = ahs.length ? extendedCdb(p.cdb, ahs) : p.cdb;
    const t = new CommandTask(
      p.itt,
      p.lun,
      decodeLun(p.lun),
      cdb,
      taskAttribute(p.attr),
      p.expectedDataTransferLength,
      p.read,
      p.write,
      p.cmdSN,
      p.immediate,
    );
    if (p.write && t.expectedLength > 0) {
      const edtl = t.expectedLength;
      if (edtl > this.host.maxCommandBytes) t.failure = INVALID_FIELD_IN_CDB();
      t.unsolicitedOpen = !p.final;
      t.unsolicitedEnd = p.final ? data.length : Math.min(edtl, params.firstBurstLength);
      t.unsolicitedNext = data.length;
      t.solicitNext = t.failure ? edtl : t.unsolicitedEnd;
      if (data.length > 0 && !t.failure) {
        if (data.length === edtl) {
          t.buffer = data;
          t.pooled = dataPooled;
        } else {
          this.allocateFirstBurst(t);
          data.copy(t.buffer!, 0);
          if (dataPooled) returnWriteBuffer(data);
        }
      } else if (t.unsolicitedOpen && !t.failure) this.allocateFirstBurst(t);
      t.received = data.length;
    } else t.solicitNext = t.expectedLength;
    this.tasks.set(t.itt, t);
    window.active++;
    // Ready before its turn is taken, so that commands queued behind it go after it.
    if (t.dataComplete) t.phase = 'ready';
    window.take(p.cmdSN, p.immediate, () => this.onTurn(t));
    if (t.write) this.solicit(t);
    this.advance(t);
  }

  /**
   * A Data-Out PDU (§11.7). A PDU out of its sequence is rejected (Protocol Error) and its
   * command ends at once with CHECK CONDITION, ABORTED COMMAND and the SPC-4 data phase ASC; the
   * connection goes on (further Data-Out for that command is then discarded as unknown).
   */
  /**
   * The place in its command's buffer for a Data-Out's data segment, when the Data-Out is the
   * one expected next (the same checks as onDataOut, in dataOutFault), so that the parser copies
   * the bytes there directly. Anything unexpected gets undefined and takes the ordinary path
   * through onDataOut, which refuses it.
   */
  placeDataOut(bhs: Buffer, length: number): Buffer | undefined {
    const d = decodeDataOut(bhs);
    const t = this.tasks.get(d.itt);
    if (!t || t.phase !== 'collecting' || t.failure || !t.buffer) return undefined;
    if (d.bufferOffset + length > t.buffer.length || dataOutFault(t, d, length)) return undefined;
    return t.buffer.subarray(d.bufferOffset, d.bufferOffset + length);
  }

  onDataOut(bhs: Buffer, data: Buffer, digestError: boolean): void {
    const d = decodeDataOut(bhs);
    const t = this.tasks.get(d.itt);
    if (!t || t.phase !== 'collecting') return; // aborted, refused or unknown: discarded
    const len = data.length;
    const fault = dataOutFault(t, d, len);
    if (fault) return this.broken(t, bhs, fault.sense, fault.why);
    if (d.ttt === RESERVED_TAG) {
      t.unsolicitedDataSN++;
      t.unsolicitedNext += len;
      if (d.final) {
        t.unsolicitedOpen = false;
        // A short first burst: the rest is asked for with R2Ts, from where the burst stopped.
        if (t.unsolicitedNext < t.unsolicitedEnd) t.solicitNext = t.unsolicitedNext;
      }
    } else {
      const r = t.r2ts.find((x) => x.ttt === d.ttt)!;
      r.dataSN++;
      r.next += len;
      if (d.final) t.r2ts.splice(t.r2ts.indexOf(r), 1);
    }
    if (digestError) {
      // §7.8, option b at ERL 0: the task ends with CHECK CONDITION once its data is in.
      this.host.reject(bhs, REJECT_REASON.DATA_DIGEST_ERROR);
      t.failure ??= PROTOCOL_CRC_ERROR();
    } else if (t.buffer && !t.failure && !placed(data, t.buffer, d.bufferOffset)) {
      data.copy(t.buffer, d.bufferOffset);
    }
    t.received += len;
    if (t.write) this.solicit(t);
    this.advance(t);
  }

  /** A Data-Out out of sequence: Reject it, end its command now with CHECK CONDITION. */
  private broken(t: CommandTask, bhs: Buffer, sense: () => Buffer, why: string): void {
    this.host.log(`Data-Out for ITT 0x${t.itt.toString(16)} rejected: ${why}`);
    this.host.reject(bhs, REJECT_REASON.PROTOCOL_ERROR);
    this.finish(t);
    if (!this.host.outputClosed) {
      this.respond(t, {
        status: ScsiStatus.CHECK_CONDITION,
        sense: sense(),
        transferLength: t.expectedLength,
      });
    }
    this.host.changed();
  }

  /** Removes commands the core has not seen yet (task management, connection end). */
  dropUndelivered(pred: (t: CommandTask) => boolean): number {
    let n = 0;
    for (const t of [...this.tasks.values()]) {
      if (t.phase === 'running' || t.phase === 'done' || !pred(t)) continue;
      this.finish(t);
      n++;
    }
    this.turnQueue = this.turnQueue.filter((t) => t.phase !== 'done');
    this.orderedWaiting = this.turnQueue.filter((t) => t.attribute === 'ordered').length;
    this.starved = this.starved.filter((t) => t.phase !== 'done');
    return n;
  }

  /** Everything goes (the connection ended): buffers released, nothing answered. */
  releaseAll(): void {
    this.dropUndelivered(() => true);
    this.starved = [];
  }

  /**
   * The buffer for a command's first burst (immediate and unsolicited data, which the initiator
   * sends without asking): the whole transfer when the budget allows, else only the first burst,
   * grown when its R2Ts can go (so that many large writes at once hold at most their first bursts).
   */
  private allocateFirstBurst(t: CommandTask): void {
    const whole = this.heldBytes === 0 || this.heldBytes + t.expectedLength <= this.host.maxHeldBytes;
    this.allocate(t, whole ? t.expectedLength : t.unsolicitedEnd);
  }

  private allocate(t: CommandTask, size: number): void {
    const old = t.buffer;
    const oldPooled = t.pooled;
    t.buffer = takeWriteBuffer(size);
    t.pooled = true;
    if (old) {
      old.copy(t.buffer, 0, 0, t.received);
      if (oldPooled) returnWriteBuffer(old);
    }
    this.setHeld(t, size);
  }

  /** Keeps heldBytes and partialBytes (first-burst-only buffers) in step with `t`. */
  private setHeld(t: CommandTask, size: number): void {
    if (t.heldBytes < t.expectedLength) this.partialBytes -= t.heldBytes;
    this.heldBytes += size - t.heldBytes;
    t.heldBytes = size;
    if (size > 0 && size < t.expectedLength) this.partialBytes += size;
  }

  /** Sends R2Ts while MaxOutstandingR2T and the held-bytes budget allow (§11.8). */
  private solicit(t: CommandTask): void {
    const params = this.params;
    const edtl = t.expectedLength;
    while (t.phase === 'collecting' && t.r2ts.length < params.maxOutstandingR2T && t.solicitNext < edtl) {
      if (t.unsolicitedOpen && t.solicitNext < t.unsolicitedEnd) return;
      if (!t.failure && (!t.buffer || t.buffer.length < edtl)) {
        // Wait while whole buffers of other commands (which are sure to finish: their data is
        // asked for) fill the budget; first bursts alone never hold a command back, so one
        // command always makes progress.
        const others = this.heldBytes - t.heldBytes;
        const othersWhole = others - (this.partialBytes - (t.heldBytes < edtl ? t.heldBytes : 0));
        if (othersWhole > 0 && others + edtl > this.host.maxHeldBytes) {
          if (!this.starved.includes(t)) this.starved.push(t);
          return;
        }
        this.allocate(t, edtl);
      }
      const len = Math.min(params.maxBurstLength, edtl - t.solicitNext);
      const ttt = this.nextTtt;
      this.nextTtt = this.nextTtt >= 0x7fffffff ? 1 : this.nextTtt + 1;
      t.r2ts.push({ ttt, offset: t.solicitNext, end: t.solicitNext + len, next: t.solicitNext, dataSN: 0 });
      const h = this.host.writer.headerBuffer();
      const window = this.host.session.window;
      encodeR2t(
        {
          lun: t.lunRaw,
          itt: t.itt,
          ttt,
          statSN: this.host.peekStatSN(),
          expCmdSN: window.expCmdSN,
          maxCmdSN: window.currentMax(),
          r2tSN: t.r2tSN++,
          bufferOffset: t.solicitNext,
          desiredDataTransferLength: len,
        },
        h,
      );
      t.solicitNext += len;
      this.host.writer.send(h);
    }
  }

  private onTurn(t: CommandTask): void {
    if (t.phase === 'done') return;
    t.turn = true;
    this.turnQueue.push(t);
    if (t.attribute === 'ordered') this.orderedWaiting++;
    this.pumpDelivery();
  }

  private advance(t: CommandTask): void {
    if (t.phase === 'collecting' && t.dataComplete) {
      t.phase = 'ready';
      if (t.turn) this.pumpDelivery();
    }
  }

  private pumpDelivery(): void {
    const q = this.turnQueue;
    if (this.orderedWaiting === 0) {
      // The common case: no ORDERED command waits, every ready command goes.
      let keep = 0;
      for (const t of q) {
        if (t.phase === 'ready' && this.readFits(t)) this.deliver(t);
        else if (t.phase === 'collecting' || t.phase === 'ready') q[keep++] = t;
      }
      q.length = keep;
      return;
    }
    for (let i = 0; i < q.length;) {
      const t = q[i]!;
      if (t.phase === 'ready' && (t.attribute !== 'ordered' || i === 0) && this.readFits(t)) {
        q.splice(i, 1);
        if (t.attribute === 'ordered') this.orderedWaiting--;
        this.deliver(t);
        continue;
      }
      if (t.phase !== 'collecting' && t.phase !== 'ready') {
        q.splice(i, 1);
        continue;
      }
      if (t.attribute === 'ordered') break;
      i++;
    }
  }

  /**
   * Reads are charged their Expected Data Transfer Length while the core runs them and their
   * Data-In waits to be sent; past `maxHeldBytes` of them a read waits for its turn to the core
   * (one always goes), so that a window of large reads cannot hold the core's buffers without
   * bound.
   */
  private readFits(t: CommandTask): boolean {
    if (!t.read || t.expectedLength === 0) return true;
    return this.readBytes === 0 || this.readBytes + t.expectedLength <= this.host.maxHeldBytes;
  }

  private deliver(t: CommandTask): void {
    t.phase = 'running';
    this.running++;
    if (t.read) {
      t.readCharge = Math.min(t.expectedLength, this.host.maxCommandBytes);
      this.readBytes += t.readCharge;
    }
    if (t.failure) {
      const sense = t.failure;
      queueMicrotask(() =>
        this.complete(t, { status: ScsiStatus.CHECK_CONDITION, sense, transferLength: t.expectedLength }),
      );
      return;
    }
    this.host.router.execute(t.command(this.host.nexus)).then(
      (r) => this.complete(t, r),
      () =>
        this.complete(t, {
          status: ScsiStatus.CHECK_CONDITION,
          sense: INTERNAL_TARGET_FAILURE(),
          transferLength: 0,
        }),
    );
  }

  private complete(t: CommandTask, r: ScsiResponse): void {
    this.running--;
    // An aborted command gets no response: aborted by this session's task management (RFC 7143
    // §11.5.1), or by another nexus's with TAS=0 (SAM-5 §5.6; the initiator learns of it from the
    // unit attention), or by the nexus loss.
    const silent = t.silent || r.aborted === true;
    this.finish(t);
    if (!this.host.outputClosed && !silent) this.respond(t, r);
    this.readBytes -= t.readCharge;
    t.readCharge = 0;
    if (this.turnQueue.length) this.pumpDelivery();
    this.host.changed();
  }

  /** Forgets a command: its buffer, its window slot; starved commands may go now. */
  private finish(t: CommandTask): void {
    if (t.phase === 'done') return;
    t.phase = 'done';
    if (this.tasks.get(t.itt) === t) this.tasks.delete(t.itt);
    this.host.session.window.active--;
    if (t.heldBytes) this.setHeld(t, 0);
    // finish() runs once the core is done with the command (complete) or for a command it never
    // saw (dropped before delivery): either way nothing else holds the buffer.
    if (t.pooled && t.buffer) returnWriteBuffer(t.buffer);
    t.pooled = false;
    t.buffer = undefined;
    t.r2ts = [];
    if (this.starved.length && this.heldBytes < this.host.maxHeldBytes) {
      const waiting = this.starved;
      this.starved = [];
      for (const s of waiting) if (s.phase === 'collecting') this.solicit(s);
    }
  }

  private respond(t: CommandTask, r: ScsiResponse): void {
    const w = this.host.writer;
    const window = this.host.session.window;
    const edtl = t.expectedLength;
    let dataIn = r.dataIn;
    if (dataIn && dataIn.length > edtl) dataIn = dataIn.subarray(0, edtl);
    const sent = t.write ? t.received : (dataIn?.length ?? 0);
    const res = residual(edtl, r.transferLength, sent);
    const sense = r.sense && r.sense.length > 0 ? r.sense : undefined;
    let dataSN = 0;
    if (dataIn && dataIn.length > 0) {
      const seg = this.params.maxXmitDataSegmentLength;
      const len = dataIn.length;
      for (let off = 0; off < len; off += seg) {
        const n = Math.min(seg, len - off);
        const last = off + n >= len;
        const withStatus = last && !sense;
        const h = w.headerBuffer();
        encodeDataIn(
          {
            final: last,
            acknowledge: false,
            overflow: withStatus && res.overflow,
            underflow: withStatus && res.underflow,
            statusPresent: withStatus,
            status: withStatus ? r.status : 0,
            dataSegmentLength: n,
            lun: 0n,
            itt: t.itt,
            ttt: RESERVED_TAG,
            statSN: withStatus ? this.host.takeStatSN() : 0,
            expCmdSN: window.expCmdSN,
            maxCmdSN: window.currentMax(),
            dataSN: dataSN++,
            bufferOffset: off,
            residualCount: withStatus ? res.count : 0,
          },
          h,
        );
        // Every earlier piece of the buffer is written before the last one (one stream, in order),
        // so the last piece's write tells when the whole buffer may go back to the core.
        w.send(h, dataIn.subarray(off, off + n), last ? r.release : undefined);
      }
      if (!sense) return;
    }
    const h = w.headerBuffer();
    const seg = sense ? senseDataSegment(sense) : undefined;
    encodeScsiResponse(
      {
        bidiOverflow: false,
        bidiUnderflow: false,
        overflow: res.overflow,
        underflow: res.underflow,
        response: SCSI_RESPONSE.COMMAND_COMPLETED,
        status: r.status,
        dataSegmentLength: seg?.length ?? 0,
        itt: t.itt,
        snackTag: 0,
        statSN: this.host.takeStatSN(),
        expCmdSN: window.expCmdSN,
        maxCmdSN: window.currentMax(),
        expDataSN: t.write ? t.r2tSN : dataSN,
        bidiResidualCount: 0,
        residualCount: res.count,
      },
      h,
    );
    w.send(h, seg);
  }
}

function noop(): void {}

/** The parser already copied `data` to its place in `buffer` (placeDataOut). */
function placed(data: Buffer, buffer: Buffer, offset: number): boolean {
  return data.buffer === buffer.buffer && data.byteOffset === buffer.byteOffset + offset;
}

/**
 * Why a Data-Out of `len` bytes is not the one its command expects next (RFC 7143 §11.7: DataSN,
 * Buffer Offset, the burst it belongs to, the F bit), or undefined when it is. Pure: onDataOut
 * refuses on a fault and only then updates the command's sequence state; placeDataOut asks the
 * same question before the bytes are copied.
 */
function dataOutFault(
  t: CommandTask,
  d: { ttt: number; dataSN: number; bufferOffset: number; final: boolean },
  len: number,
): { sense: () => Buffer; why: string } | undefined {
  const end = d.bufferOffset + len;
  if (d.ttt === RESERVED_TAG) {
    if (!t.unsolicitedOpen) return { sense: DATA_PHASE, why: 'unsolicited Data-Out after the first burst' };
    if (d.dataSN !== t.unsolicitedDataSN)
      return { sense: DATA_PHASE, why: `DataSN ${d.dataSN}, expected ${t.unsolicitedDataSN}` };
    if (d.bufferOffset !== t.unsolicitedNext)
      return { sense: DATA_OFFSET, why: `buffer offset ${d.bufferOffset}, expected ${t.unsolicitedNext}` };
    if (end > t.unsolicitedEnd)
      return { sense: TOO_MUCH_DATA, why: 'unsolicited data past FirstBurstLength' };
    if (d.final && end < t.unsolicitedEnd && t.r2tSN > 0)
      return { sense: DATA_PHASE, why: 'the first burst ended short after R2Ts' };
  } else {
    const r = t.r2ts.find((x) => x.ttt === d.ttt);
    if (!r) return { sense: DATA_PHASE, why: `Data-Out with unknown TTT 0x${d.ttt.toString(16)}` };
    if (d.dataSN !== r.dataSN) return { sense: DATA_PHASE, why: `DataSN ${d.dataSN}, expected ${r.dataSN}` };
    if (d.bufferOffset !== r.next)
      return { sense: DATA_OFFSET, why: `buffer offset ${d.bufferOffset}, expected ${r.next}` };
    if (end > r.end) return { sense: TOO_MUCH_DATA, why: 'Data-Out past the end of its R2T' };
    if (d.final && end !== r.end) return { sense: DATA_PHASE, why: 'F bit before the end of the R2T burst' };
  }
  if (end > t.expectedLength) return { sense: TOO_MUCH_DATA, why: 'Data-Out past the transfer length' };
  return undefined;
}
