/**
 * Informational Exceptions Control mode page (SPC-4 §7.5.14, Table 387): page code 1Ch,
 * length 0Ah. Byte 2: PERF(7) EBF(5) EWASC(4) DEXCPT(3) TEST(2) EBACKERR(1) LOGERR(0);
 * byte 3 MRIE(3..0); 4..7 INTERVAL TIMER; 8..11 REPORT COUNT.
 */
import { decodePage0, encodePage0 } from './page-header.js';

export const INFORMATIONAL_EXCEPTIONS_PAGE = 0x1c;
export const INFORMATIONAL_EXCEPTIONS_BODY_LENGTH = 0x0a;

export interface InformationalExceptionsPage {
  /** Byte 2 raw. DEXCPT = 0x08. */
  flags: number;
  mrie: number;
  intervalTimer: number;
  reportCount: number;
}

export function encodeInformationalExceptionsPage(p: InformationalExceptionsPage): Buffer {
  const body = Buffer.alloc(INFORMATIONAL_EXCEPTIONS_BODY_LENGTH);
  body[0] = p.flags;
  body[1] = p.mrie & 0x0f;
  body.writeUInt32BE(p.intervalTimer >>> 0, 2);
  body.writeUInt32BE(p.reportCount >>> 0, 6);
  return encodePage0(INFORMATIONAL_EXCEPTIONS_PAGE, body);
}

export function decodeInformationalExceptionsPage(b: Buffer): InformationalExceptionsPage {
  const body = decodePage0(b, INFORMATIONAL_EXCEPTIONS_PAGE, INFORMATIONAL_EXCEPTIONS_BODY_LENGTH);
  return {
    flags: body[0]!,
    mrie: body[1]! & 0x0f,
    intervalTimer: body.readUInt32BE(2),
    reportCount: body.readUInt32BE(6),
  };
}
