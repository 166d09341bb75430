/**
 * Block Device Characteristics VPD page (SBC-3 §6.5.2, Table 180): page length 3Ch.
 * Bytes 4..5 MEDIUM ROTATION RATE (0000h not reported, 0001h non-rotating medium, else rpm);
 * byte 6 PRODUCT TYPE; byte 7 WABEREQ(7..6) WACEREQ(5..4) NOMINAL FORM FACTOR(3..0);
 * byte 8 FUAB(1) VBULS(0).
 */
import { decodeVpdPage, encodeVpdPage, VpdPageCode } from './page.js';

export const BLOCK_DEVICE_CHARACTERISTICS_PAGE_LENGTH = 0x3c;
export const NON_ROTATING_MEDIUM = 0x0001;

export interface BlockDeviceCharacteristics {
  mediumRotationRate: number;
  /** What a read returns after SANITIZE BLOCK ERASE (1 = GOOD status with data). */
  wabereq: number;
  /** What a read returns after SANITIZE CRYPTOGRAPHIC ERASE. */
  wacereq: number;
  nominalFormFactor: number;
  fuab: boolean;
  vbuls: boolean;
}

export function encodeBlockDeviceCharacteristics(peripheral: number, d: BlockDeviceCharacteristics): Buffer {
  const b = Buffer.alloc(BLOCK_DEVICE_CHARACTERISTICS_PAGE_LENGTH);
  b.writeUInt16BE(d.mediumRotationRate, 0);
  b[3] = ((d.wabereq & 3) << 6) | ((d.wacereq & 3) << 4) | (d.nominalFormFactor & 0x0f);
  b[4] = (d.fuab ? 0x02 : 0) | (d.vbuls ? 0x01 : 0);
  return encodeVpdPage(peripheral, VpdPageCode.BLOCK_DEVICE_CHARACTERISTICS, b);
}

export function decodeBlockDeviceCharacteristics(page: Buffer): BlockDeviceCharacteristics {
  const b = Buffer.alloc(BLOCK_DEVICE_CHARACTERISTICS_PAGE_LENGTH);
  decodeVpdPage(page, VpdPageCode.BLOCK_DEVICE_CHARACTERISTICS).body.copy(b);
  return {
    mediumRotationRate: b.readUInt16BE(0),
    wabereq: b[3]! >> 6,
    wacereq: (b[3]! >> 4) & 3,
    nominalFormFactor: b[3]! & 0x0f,
    fuab: !!(b[4]! & 0x02),
    vbuls: !!(b[4]! & 0x01),
  };
}
