/**
 * The Basic Header Segment fields every PDU shares (RFC 7143 §11.2.1):
 *
 *     byte 0      .|I| Opcode        (bit 6: immediate delivery; bits 0-5: opcode)
 *     byte 1      F| opcode-specific  (bit 7: final)
 *     bytes 2-3   opcode-specific
 *     byte 4      TotalAHSLength      (in 4-byte words)
 *     bytes 5-7   DataSegmentLength   (bytes, without padding)
 *     bytes 8-15  LUN or opcode-specific
 *     bytes 16-19 Initiator Task Tag
 *     bytes 20-47 opcode-specific
 *
 * The per-opcode codecs (one file each) read and write the rest; these helpers keep the shared
 * bytes in one place. Every codec writes into a 48-byte buffer it is given (or allocates one), so
 * that the connection can carve headers out of its reply slabs.
 */
export const BHS_SIZE = 48;

/** Largest DataSegmentLength the 24-bit field can carry. */
export const MAX_DATA_SEGMENT_LENGTH = 0xffffff;

export function bhsOpcode(b: Buffer): number {
  return b[0]! & 0x3f;
}

export function bhsImmediate(b: Buffer): boolean {
  return (b[0]! & 0x40) !== 0;
}

export function bhsFinal(b: Buffer): boolean {
  return (b[1]! & 0x80) !== 0;
}

/** TotalAHSLength in bytes. */
export function bhsAhsLength(b: Buffer): number {
  return b[4]! * 4;
}

export function bhsDataSegmentLength(b: Buffer): number {
  return (b[5]! << 16) | (b[6]! << 8) | b[7]!;
}

export function bhsItt(b: Buffer): number {
  return b.readUInt32BE(16);
}

/** Writes bytes 0-7: opcode with I bit, byte 1, TotalAHSLength (bytes, a multiple of 4), DSL. */
export function writeBhsStart(
  b: Buffer,
  opcode: number,
  immediate: boolean,
  byte1: number,
  ahsBytes: number,
  dataSegmentLength: number,
): void {
  b[0] = (immediate ? 0x40 : 0) | (opcode & 0x3f);
  b[1] = byte1;
  b[4] = ahsBytes >>> 2;
  b[5] = (dataSegmentLength >>> 16) & 0xff;
  b[6] = (dataSegmentLength >>> 8) & 0xff;
  b[7] = dataSegmentLength & 0xff;
}

/** A zeroed header buffer, or `into` cleared. */
export function bhsBuffer(into?: Buffer): Buffer {
  if (!into) return Buffer.alloc(BHS_SIZE);
  into.fill(0, 0, BHS_SIZE);
  return into;
}

/** Bytes of padding after a data segment or AHS of `n` bytes (RFC 7143 §11.1: 4-byte words). */
export function padLength(n: number): number {
  return (4 - (n & 3)) & 3;
}

/**
 * StatSN, ExpCmdSN and MaxCmdSN: the same three fields at the same offsets (bytes 24..35) of
 * every PDU a target sends (RFC 7143 §11.4 SCSI Response through §11.17 Reject).
 */
export interface TargetSequence {
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

export function decodeTargetSequence(b: Buffer): TargetSequence {
  return { statSN: b.readUInt32BE(24), expCmdSN: b.readUInt32BE(28), maxCmdSN: b.readUInt32BE(32) };
}

export function encodeTargetSequence(b: Buffer, p: TargetSequence): void {
  b.writeUInt32BE(p.statSN, 24);
  b.writeUInt32BE(p.expCmdSN, 28);
  b.writeUInt32BE(p.maxCmdSN, 32);
}
