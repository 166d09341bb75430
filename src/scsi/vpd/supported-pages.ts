/** Supported VPD Pages (SPC-4 §7.8.13, Table 511): the page codes, ascending, one byte each. */
import { decodeVpdPage, encodeVpdPage, VpdPageCode } from './page.js';

export function encodeSupportedVpdPages(peripheral: number, pages: readonly number[]): Buffer {
  return encodeVpdPage(
    peripheral,
    VpdPageCode.SUPPORTED_VPD_PAGES,
    Buffer.from([...pages].sort((a, b) => a - b)),
  );
}

export function decodeSupportedVpdPages(b: Buffer): number[] {
  return [...decodeVpdPage(b, VpdPageCode.SUPPORTED_VPD_PAGES).body];
}
