/**
 * The server's answer to NBD_OPT_EXPORT_NAME (proto.md "Newstyle negotiation"), which ends the
 * negotiation without an option reply header:
 *
 *     S: 64 bits, size of the export in bytes (unsigned)
 *     S: 16 bits, transmission flags
 *     S: 124 bytes, zeroes (reserved) (unless NBD_FLAG_C_NO_ZEROES was negotiated by the client)
 */
import { readWireU64 } from './errors.js';

export const EXPORT_NAME_REPLY_SIZE = 10;
export const EXPORT_NAME_ZEROES = 124;

export interface ExportNameReply {
  size: number;
  flags: number;
}

export function encodeExportNameReply(r: ExportNameReply, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(EXPORT_NAME_REPLY_SIZE + (noZeroes ? 0 : EXPORT_NAME_ZEROES));
  b.writeBigUInt64BE(BigInt(r.size), 0);
  b.writeUInt16BE(r.flags, 8);
  return b;
}

export function decodeExportNameReply(b: Buffer): ExportNameReply {
  return { size: readWireU64(b, 0, 'export size'), flags: b.readUInt16BE(8) };
}
