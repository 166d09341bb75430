/**
 * The four-byte header every VPD page shares (SPC-4 §7.8.1, Table 452): byte 0 PERIPHERAL
 * QUALIFIER | PERIPHERAL DEVICE TYPE, byte 1 PAGE CODE, bytes 2..3 PAGE LENGTH (n - 3).
 */
import { BlockError } from '../../util/index.js';

export const VPD_HEADER_LENGTH = 4;

/** SPC-4 §7.8 / SBC-3 §6.5: the pages the core serves. */
export const VpdPageCode = {
  SUPPORTED_VPD_PAGES: 0x00,
  UNIT_SERIAL_NUMBER: 0x80,
  DEVICE_IDENTIFICATION: 0x83,
  EXTENDED_INQUIRY: 0x86,
  /** SPC-4 §7.8.17 (the encoder is xcopy/third-party-copy-vpd.ts). */
  THIRD_PARTY_COPY: 0x8f,
  BLOCK_LIMITS: 0xb0,
  BLOCK_DEVICE_CHARACTERISTICS: 0xb1,
  LOGICAL_BLOCK_PROVISIONING: 0xb2,
} as const;

export interface VpdHeader {
  peripheral: number;
  pageCode: number;
  pageLength: number;
}

export function encodeVpdPage(peripheral: number, pageCode: number, body: Buffer): Buffer {
  if (body.length > 0xffff) throw new BlockError('INVALID', `VPD page 0x${pageCode.toString(16)} too long`);
  const b = Buffer.alloc(VPD_HEADER_LENGTH + body.length);
  b[0] = peripheral;
  b[1] = pageCode;
  b.writeUInt16BE(body.length, 2);
  body.copy(b, VPD_HEADER_LENGTH);
  return b;
}

/** Checks the header of `b` against `pageCode` and returns the page body. */
export function decodeVpdPage(b: Buffer, pageCode: number): { header: VpdHeader; body: Buffer } {
  if (b.length < VPD_HEADER_LENGTH) throw new BlockError('INVALID', 'VPD page too short');
  const header = { peripheral: b[0]!, pageCode: b[1]!, pageLength: b.readUInt16BE(2) };
  if (header.pageCode !== pageCode) {
    throw new BlockError(
      'INVALID',
      `expected VPD page 0x${pageCode.toString(16)}, got 0x${header.pageCode.toString(16)}`,
    );
  }
  if (VPD_HEADER_LENGTH + header.pageLength > b.length) throw new BlockError('INVALID', 'VPD page truncated');
  return { header, body: b.subarray(VPD_HEADER_LENGTH, VPD_HEADER_LENGTH + header.pageLength) };
}
