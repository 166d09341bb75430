/**
 * REPORT SUPPORTED OPERATION CODES parameter data (SPC-4 §6.35.2-§6.35.4).
 *
 * All commands (Table 306): bytes 0..3 COMMAND DATA LENGTH (n - 3), then command descriptors
 * (Table 307): byte 0 OPERATION CODE, bytes 2..3 SERVICE ACTION, byte 5 CTDP(1) SERVACTV(0),
 * bytes 6..7 CDB LENGTH, followed by a command timeouts descriptor when CTDP = 1.
 *
 * One command (Table 308): byte 1 CTDP(7) SUPPORT(2..0), bytes 2..3 CDB SIZE, CDB USAGE DATA,
 * then a command timeouts descriptor when CTDP = 1.
 *
 * Command timeouts descriptor (Table 310): bytes 0..1 DESCRIPTOR LENGTH (000Ah), byte 3 COMMAND
 * SPECIFIC, bytes 4..7 NOMINAL COMMAND PROCESSING TIMEOUT, 8..11 RECOMMENDED COMMAND TIMEOUT
 * (seconds).
 */
import { BlockError } from '../../util/index.js';

export const COMMAND_DESCRIPTOR_LENGTH = 8;
export const TIMEOUTS_DESCRIPTOR_LENGTH = 12;

/** Table 309 SUPPORT values. */
export const Support = { NOT_AVAILABLE: 0, NOT_SUPPORTED: 1, STANDARD: 3, VENDOR: 5 } as const;

export interface Timeouts {
  nominal: number;
  recommended: number;
}

export interface CommandDescriptor {
  opcode: number;
  serviceAction?: number;
  cdbLength: number;
  timeouts?: Timeouts;
}

export interface OneCommand {
  support: number;
  usage: readonly number[];
  timeouts?: Timeouts;
}

function encodeTimeouts(t: Timeouts): Buffer {
  const b = Buffer.alloc(TIMEOUTS_DESCRIPTOR_LENGTH);
  b.writeUInt16BE(0x0a, 0);
  b.writeUInt32BE(t.nominal, 4);
  b.writeUInt32BE(t.recommended, 8);
  return b;
}

function decodeTimeouts(b: Buffer, off: number): Timeouts {
  if (off + TIMEOUTS_DESCRIPTOR_LENGTH > b.length)
    throw new BlockError('INVALID', 'timeouts descriptor truncated');
  return { nominal: b.readUInt32BE(off + 4), recommended: b.readUInt32BE(off + 8) };
}

export function encodeAllCommands(ds: readonly CommandDescriptor[]): Buffer {
  const parts = ds.map((d) => {
    const b = Buffer.alloc(COMMAND_DESCRIPTOR_LENGTH);
    b[0] = d.opcode;
    b.writeUInt16BE(d.serviceAction ?? 0, 2);
    b[5] = (d.timeouts ? 0x02 : 0) | (d.serviceAction !== undefined ? 0x01 : 0);
    b.writeUInt16BE(d.cdbLength, 6);
    return d.timeouts ? Buffer.concat([b, encodeTimeouts(d.timeouts)]) : b;
  });
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length, 0);
  return Buffer.concat([h, body]);
}

export function decodeAllCommands(b: Buffer): CommandDescriptor[] {
  if (b.length < 4) throw new BlockError('INVALID', 'REPORT SUPPORTED OPERATION CODES data too short');
  const end = Math.min(b.length, 4 + b.readUInt32BE(0));
  const out: CommandDescriptor[] = [];
  let off = 4;
  while (off + COMMAND_DESCRIPTOR_LENGTH <= end) {
    const d: CommandDescriptor = { opcode: b[off]!, cdbLength: b.readUInt16BE(off + 6) };
    if (b[off + 5]! & 0x01) d.serviceAction = b.readUInt16BE(off + 2);
    const ctdp = !!(b[off + 5]! & 0x02);
    off += COMMAND_DESCRIPTOR_LENGTH;
    if (ctdp) {
      d.timeouts = decodeTimeouts(b, off);
      off += TIMEOUTS_DESCRIPTOR_LENGTH;
    }
    out.push(d);
  }
  return out;
}

export function encodeOneCommand(c: OneCommand): Buffer {
  const b = Buffer.alloc(4 + c.usage.length);
  b[1] = (c.timeouts ? 0x80 : 0) | (c.support & 7);
  b.writeUInt16BE(c.usage.length, 2);
  Buffer.from(c.usage).copy(b, 4);
  return c.timeouts ? Buffer.concat([b, encodeTimeouts(c.timeouts)]) : b;
}

export function decodeOneCommand(b: Buffer): OneCommand {
  if (b.length < 4) throw new BlockError('INVALID', 'one-command data too short');
  const n = b.readUInt16BE(2);
  if (4 + n > b.length) throw new BlockError('INVALID', 'CDB usage data truncated');
  const c: OneCommand = { support: b[1]! & 7, usage: [...b.subarray(4, 4 + n)] };
  if (b[1]! & 0x80) c.timeouts = decodeTimeouts(b, 4 + n);
  return c;
}
