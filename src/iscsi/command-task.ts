/**
 * One SCSI command in flight on a connection (RFC 7143 §4.2.2, §11.3), from its SCSI Command PDU
 * to its status. The state a command holds:
 *
 *     collecting (write data still owed) --all data--> ready --its CmdSN turn--> running --> done
 *
 * Writes: the bytes come as immediate data (in the command PDU), unsolicited Data-Out PDUs (TTT
 * 0xffffffff, when InitialR2T=No, up to FirstBurstLength) and solicited Data-Out PDUs answering
 * our R2Ts (each R2T at most MaxBurstLength, at most MaxOutstandingR2T of them at once). Every
 * Data-Out is checked against the sequence it belongs to: its TTT names an R2T of this task (or
 * the unsolicited burst), its DataSN is the next of that sequence (from 0), its Buffer Offset is
 * the next byte (DataPDUInOrder and DataSequenceInOrder are negotiated Yes), and it stays within
 * the sequence; a violation is a protocol error that ERL 0 cannot recover (command-intake.ts
 * rejects it and drops the connection).
 *
 * The write buffer is allocated once, at the first byte (so a command that waits for budget holds
 * nothing); a write whose data all came as immediate data uses the PDU's bytes as they are.
 */
import type { ScsiCommand, TaskAttribute } from '../scsi/index.js';

export interface R2tSequence {
  ttt: number;
  offset: number;
  end: number;
  next: number;
  dataSN: number;
}

const ATTRIBUTES: readonly TaskAttribute[] = ['simple', 'simple', 'ordered', 'head-of-queue', 'aca'];

/** RFC 7143 §11.3.1 ATTR: 0 untagged (treated as simple), 1 simple, 2 ordered, 3 head of queue, 4 ACA. */
export function taskAttribute(attr: number): TaskAttribute {
  return ATTRIBUTES[attr] ?? 'simple';
}

export type TaskPhase = 'collecting' | 'ready' | 'running' | 'done';

export class CommandTask {
  phase: TaskPhase = 'collecting';
  /** The CmdSN window reached this command (immediate commands: at once). */
  turn = false;
  buffer: Buffer | undefined;
  /** Bytes of write data received. */
  received = 0;
  /** Unsolicited burst: open while Data-Out PDUs with TTT 0xffffffff may come. */
  unsolicitedOpen = false;
  unsolicitedNext = 0;
  unsolicitedDataSN = 0;
  unsolicitedEnd = 0;
  /** Next offset to ask for with an R2T, and where asking stops. */
  solicitNext = 0;
  r2ts: R2tSequence[] = [];
  r2tSN = 0;
  /** Sense data to answer with once the data is in (a Data-Out digest error, an oversized write). */
  failure: Buffer | undefined;
  /** Aborted by a task management function of this session: no response for it (RFC 7143 §11.5.1). */
  silent = false;
  /** Counted in the connection's held bytes. */
  heldBytes = 0;
  /** `buffer` came from block/write-buffers.ts and goes back there when the command ends. */
  pooled = false;
  /** What this read counts in the connection's read budget while the core runs it. */
  readCharge = 0;

  constructor(
    readonly itt: number,
    readonly lunRaw: bigint,
    readonly lun: number,
    readonly cdb: Buffer,
    readonly attribute: TaskAttribute,
    readonly expectedLength: number,
    readonly read: boolean,
    readonly write: boolean,
    readonly cmdSN: number,
    readonly immediate: boolean,
  ) {}

  /** All write data is in: nothing is owed by the initiator. */
  get dataComplete(): boolean {
    return !this.unsolicitedOpen && this.r2ts.length === 0 && this.solicitNext >= this.expectedLength;
  }

  command(nexus: ScsiCommand['nexus']): ScsiCommand {
    return {
      nexus,
      lun: this.lun,
      tag: this.itt,
      cdb: this.cdb,
      attribute: this.attribute,
      expectedLength: this.expectedLength,
      dataOut: this.write ? this.dataOut() : undefined,
    };
  }

  private dataOut(): Buffer | undefined {
    if (!this.buffer) return undefined;
    return this.received === this.buffer.length ? this.buffer : this.buffer.subarray(0, this.received);
  }
}

/**
 * Residual flags and count (RFC 7143 §11.4.5; SAM-5 §5.4.3): against the Expected Data Transfer
 * Length, the transfer the CDB called for. More than expected: overflow by the difference. Less
 * sent than expected: underflow by what was not sent.
 */
export function residual(
  expected: number,
  transferLength: number,
  sent: number,
): { overflow: boolean; underflow: boolean; count: number } {
  if (transferLength > expected)
    return { overflow: true, underflow: false, count: transferLength - expected };
  const moved = Math.min(transferLength, sent);
  if (moved < expected) return { overflow: false, underflow: true, count: expected - moved };
  return { overflow: false, underflow: false, count: 0 };
}
