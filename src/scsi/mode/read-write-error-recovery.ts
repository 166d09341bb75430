/**
 * Read-Write Error Recovery mode page (SBC-3 §6.4.9, Table 172): page code 01h, length 0Ah.
 * Byte 2: AWRE(7) ARRE(6) TB(5) RC(4) EER(3) PER(2) DTE(1) DCR(0); byte 3 READ RETRY COUNT;
 * byte 8 WRITE RETRY COUNT; bytes 10..11 RECOVERY TIME LIMIT.
 */
import { decodePage0, encodePage0 } from './page-header.js';

export const RW_ERROR_RECOVERY_PAGE = 0x01;
export const RW_ERROR_RECOVERY_BODY_LENGTH = 0x0a;

export interface ReadWriteErrorRecovery {
  /** Byte 2 flags, raw (AWRE 0x80, ARRE 0x40, TB 0x20, RC 0x10, EER 0x08, PER 0x04, DTE 0x02, DCR 0x01). */
  flags: number;
  readRetryCount: number;
  writeRetryCount: number;
  recoveryTimeLimit: number;
}

export function encodeReadWriteErrorRecovery(p: ReadWriteErrorRecovery): Buffer {
  const body = Buffer.alloc(RW_ERROR_RECOVERY_BODY_LENGTH);
  body[0] = p.flags;
  body[1] = p.readRetryCount;
  body[6] = p.writeRetryCount;
  body.writeUInt16BE(p.recoveryTimeLimit, 8);
  return encodePage0(RW_ERROR_RECOVERY_PAGE, body);
}

export function decodeReadWriteErrorRecovery(b: Buffer): ReadWriteErrorRecovery {
  const body = decodePage0(b, RW_ERROR_RECOVERY_PAGE, RW_ERROR_RECOVERY_BODY_LENGTH);
  return {
    flags: body[0]!,
    readRetryCount: body[1]!,
    writeRetryCount: body[6]!,
    recoveryTimeLimit: body.readUInt16BE(8),
  };
}
