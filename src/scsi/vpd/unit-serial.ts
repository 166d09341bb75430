/** Unit Serial Number (SPC-4 §7.8.15, Table 514): PRODUCT SERIAL NUMBER, ASCII, right-aligned. */
import { BlockError } from '../../util/index.js';
import { decodeVpdPage, encodeVpdPage, VpdPageCode } from './page.js';

export function encodeUnitSerial(peripheral: number, serial: string): Buffer {
  if (!/^[\x20-\x7e]*$/.test(serial)) throw new BlockError('INVALID', 'serial number is not printable ASCII');
  return encodeVpdPage(peripheral, VpdPageCode.UNIT_SERIAL_NUMBER, Buffer.from(serial, 'latin1'));
}

export function decodeUnitSerial(b: Buffer): string {
  return decodeVpdPage(b, VpdPageCode.UNIT_SERIAL_NUMBER).body.toString('latin1');
}
