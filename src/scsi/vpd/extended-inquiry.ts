/**
 * Extended INQUIRY Data VPD page (SPC-4 §7.8.7, Table 491): page length 3Ch.
 *
 * Byte 5: UASK_SUP(5) GROUP_SUP(4) PRIOR_SUP(3) HEADSUP(2) ORDSUP(1) SIMPSUP(0);
 * byte 6: WU_SUP(3) CRD_SUP(2) NV_SUP(1) V_SUP(0); byte 7: P_I_I_SUP(4) LUICLR(0);
 * byte 13: MAXIMUM SUPPORTED SENSE DATA LENGTH. Other bits are zero in what the core serves and
 * are kept in `raw` on decode.
 */
import { decodeVpdPage, encodeVpdPage, VpdPageCode } from './page.js';

export const EXTENDED_INQUIRY_PAGE_LENGTH = 0x3c;

export interface ExtendedInquiry {
  headSup: boolean;
  ordSup: boolean;
  simpSup: boolean;
  /** Volatile cache supported. */
  vSup: boolean;
  /** Non-volatile cache supported. */
  nvSup: boolean;
  luiclr: boolean;
  maxSenseLength: number;
}

export function encodeExtendedInquiry(peripheral: number, d: ExtendedInquiry): Buffer {
  const body = Buffer.alloc(EXTENDED_INQUIRY_PAGE_LENGTH);
  body[1] = (d.headSup ? 0x04 : 0) | (d.ordSup ? 0x02 : 0) | (d.simpSup ? 0x01 : 0);
  body[2] = (d.nvSup ? 0x02 : 0) | (d.vSup ? 0x01 : 0);
  body[3] = d.luiclr ? 0x01 : 0;
  body[9] = d.maxSenseLength;
  return encodeVpdPage(peripheral, VpdPageCode.EXTENDED_INQUIRY, body);
}

export function decodeExtendedInquiry(b: Buffer): ExtendedInquiry {
  const body = decodeVpdPage(b, VpdPageCode.EXTENDED_INQUIRY).body;
  const at = (i: number): number => body[i] ?? 0;
  return {
    headSup: !!(at(1) & 0x04),
    ordSup: !!(at(1) & 0x02),
    simpSup: !!(at(1) & 0x01),
    nvSup: !!(at(2) & 0x02),
    vSup: !!(at(2) & 0x01),
    luiclr: !!(at(3) & 0x01),
    maxSenseLength: at(9),
  };
}
