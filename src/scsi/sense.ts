/**
 * Sense data (SPC-4 §4.5): fixed format (§4.5.3, response codes 70h/71h) and descriptor format
 * (§4.5.2, response codes 72h/73h), decoded into one `SenseData` and encoded in either form.
 *
 * The core reports fixed format unless the control mode page's D_SENSE bit is set (§7.5.8).
 * Only the fields the core produces are modelled: INFORMATION (fixed bytes 3..6 with VALID, or
 * the information descriptor 00h) and the sense-key specific bytes (fixed bytes 15..17, or the
 * sense key specific descriptor 02h). Descriptors of other types survive a round trip in `other`.
 *
 * Sense-key specific field pointer (§4.5.2.4.2 Table 32): byte 0 = SKSV(7) | C/D(6) | BPV(3) |
 * BIT POINTER(2..0), bytes 1..2 = FIELD POINTER.
 */
import { BlockError } from '../util/index.js';

export const FIXED_SENSE_LENGTH = 18;
/** The longest sense the core builds: descriptor header + information + sense key specific. */
export const MAX_SENSE_LENGTH = 252;

export type SenseFormat = 'fixed' | 'descriptor';

export interface SenseData {
  format: SenseFormat;
  /** Current (70h/72h) or deferred (71h/73h) error. */
  current: boolean;
  key: number;
  /** `(ASC << 8) | ASCQ`. */
  asc: number;
  /** INFORMATION; present means VALID = 1. */
  information?: bigint;
  /** The three sense-key specific bytes, SKSV included (bit 23). */
  senseKeySpecific?: number;
  /** Fixed: the COMMAND-SPECIFIC INFORMATION field (0 when absent). */
  commandSpecific?: number;
  /** Descriptor format: descriptors of other types, byte for byte. */
  other?: Buffer[];
}

export interface FieldPointer {
  /** C/D: true when the field is in the CDB, false when in the parameter list. */
  cdb: boolean;
  byte: number;
  /** BIT POINTER (with BPV = 1); absent for a whole byte. */
  bit?: number;
}

/** Builds the sense-key specific field pointer bytes (SKSV = 1). */
export function fieldPointerSks(p: FieldPointer): number {
  let b0 = 0x80 | (p.cdb ? 0x40 : 0);
  if (p.bit !== undefined) b0 |= 0x08 | (p.bit & 7);
  return (b0 << 16) | (p.byte & 0xffff);
}

export function decodeFieldPointer(sks: number): FieldPointer | undefined {
  if (!(sks & 0x800000)) return undefined;
  const b0 = sks >> 16;
  const p: FieldPointer = { cdb: !!(b0 & 0x40), byte: sks & 0xffff };
  if (b0 & 0x08) p.bit = b0 & 7;
  return p;
}

export function encodeSense(s: SenseData): Buffer {
  if (s.format === 'fixed') {
    const b = Buffer.alloc(FIXED_SENSE_LENGTH);
    b[0] = (s.current ? 0x70 : 0x71) | (s.information !== undefined ? 0x80 : 0);
    b[2] = s.key & 0x0f;
    if (s.information !== undefined) b.writeUInt32BE(Number(BigInt.asUintN(32, s.information)), 3);
    b[7] = FIXED_SENSE_LENGTH - 8; // ADDITIONAL SENSE LENGTH
    b.writeUInt32BE((s.commandSpecific ?? 0) >>> 0, 8);
    b[12] = s.asc >> 8;
    b[13] = s.asc & 0xff;
    if (s.senseKeySpecific !== undefined) {
      b[15] = (s.senseKeySpecific >> 16) & 0xff;
      b.writeUInt16BE(s.senseKeySpecific & 0xffff, 16);
    }
    return b;
  }
  const descs: Buffer[] = [];
  if (s.information !== undefined) {
    // §4.5.2.2 information descriptor: type 00h, length 0Ah, VALID = 1.
    const d = Buffer.alloc(12);
    d[0] = 0x00;
    d[1] = 0x0a;
    d[2] = 0x80;
    d.writeBigUInt64BE(BigInt.asUintN(64, s.information), 4);
    descs.push(d);
  }
  if (s.senseKeySpecific !== undefined) {
    // §4.5.2.4 sense key specific descriptor: type 02h, length 06h.
    const d = Buffer.alloc(8);
    d[0] = 0x02;
    d[1] = 0x06;
    d[4] = (s.senseKeySpecific >> 16) & 0xff;
    d.writeUInt16BE(s.senseKeySpecific & 0xffff, 5);
    descs.push(d);
  }
  for (const o of s.other ?? []) descs.push(o);
  const body = Buffer.concat(descs);
  if (body.length > MAX_SENSE_LENGTH - 8) throw new BlockError('INVALID', 'sense descriptors too long');
  const b = Buffer.alloc(8 + body.length);
  b[0] = s.current ? 0x72 : 0x73;
  b[1] = s.key & 0x0f;
  b[2] = s.asc >> 8;
  b[3] = s.asc & 0xff;
  b[7] = body.length;
  body.copy(b, 8);
  return b;
}

/** Decodes sense data of either format. Throws INVALID on an unknown response code or a short buffer. */
export function decodeSense(b: Buffer): SenseData {
  if (b.length < 8) throw new BlockError('INVALID', `sense data too short (${b.length} bytes)`);
  const code = b[0]! & 0x7f;
  if (code === 0x70 || code === 0x71) {
    if (b.length < 14) throw new BlockError('INVALID', `fixed sense data too short (${b.length} bytes)`);
    const s: SenseData = {
      format: 'fixed',
      current: code === 0x70,
      key: b[2]! & 0x0f,
      asc: (b[12]! << 8) | b[13]!,
    };
    if (b[0]! & 0x80) s.information = BigInt(b.readUInt32BE(3));
    const csi = b.readUInt32BE(8);
    if (csi) s.commandSpecific = csi;
    if (b.length >= 18 && b[15]! & 0x80) s.senseKeySpecific = (b[15]! << 16) | b.readUInt16BE(16);
    return s;
  }
  if (code === 0x72 || code === 0x73) {
    const s: SenseData = {
      format: 'descriptor',
      current: code === 0x72,
      key: b[1]! & 0x0f,
      asc: (b[2]! << 8) | b[3]!,
    };
    const end = Math.min(b.length, 8 + b[7]!);
    let off = 8;
    while (off + 2 <= end) {
      const type = b[off]!;
      const len = b[off + 1]! + 2;
      if (off + len > end)
        throw new BlockError('INVALID', 'sense descriptor runs past the additional length');
      const d = b.subarray(off, off + len);
      if (type === 0x00 && len >= 12 && d[2]! & 0x80) s.information = d.readBigUInt64BE(4);
      else if (type === 0x02 && len >= 8) s.senseKeySpecific = (d[4]! << 16) | d.readUInt16BE(5);
      else (s.other ??= []).push(Buffer.from(d));
      off += len;
    }
    return s;
  }
  throw new BlockError('INVALID', `unknown sense response code 0x${code.toString(16)}`);
}
