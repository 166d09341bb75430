/**
 * Control mode page (SPC-4 §7.5.8, Table 368): page code 0Ah, length 0Ah.
 * Byte 2: TST(7..5) TMF_ONLY(4) DPICZ(3) D_SENSE(2) GLTSD(1) RLEC(0);
 * byte 3: QUEUE ALGORITHM MODIFIER(7..4) NUAR(3) QERR(2..1);
 * byte 4: VS(7) RAC(6) UA_INTLCK_CTRL(5..4) SWP(3); byte 5: ATO(7) TAS(6) ATMPE(5) RWWP(4)
 * AUTOLOAD MODE(2..0); bytes 8..9 BUSY TIMEOUT PERIOD; 10..11 EXTENDED SELF-TEST COMPLETION TIME.
 */
import { decodePage0, encodePage0 } from './page-header.js';

export const CONTROL_PAGE = 0x0a;
export const CONTROL_BODY_LENGTH = 0x0a;

export interface ControlPage {
  tst: number;
  tmfOnly: boolean;
  dSense: boolean;
  gltsd: boolean;
  rlec: boolean;
  /** 0 = restricted reordering, 1 = unrestricted. */
  queueAlgorithmModifier: number;
  nuar: boolean;
  qerr: number;
  rac: boolean;
  uaIntlckCtrl: number;
  swp: boolean;
  ato: boolean;
  tas: boolean;
  autoloadMode: number;
  busyTimeoutPeriod: number;
  extendedSelfTestCompletionTime: number;
}

export function encodeControlPage(p: ControlPage): Buffer {
  const body = Buffer.alloc(CONTROL_BODY_LENGTH);
  body[0] =
    ((p.tst & 7) << 5) |
    (p.tmfOnly ? 0x10 : 0) |
    (p.dSense ? 0x04 : 0) |
    (p.gltsd ? 0x02 : 0) |
    (p.rlec ? 1 : 0);
  body[1] = ((p.queueAlgorithmModifier & 0xf) << 4) | (p.nuar ? 0x08 : 0) | ((p.qerr & 3) << 1);
  body[2] = (p.rac ? 0x40 : 0) | ((p.uaIntlckCtrl & 3) << 4) | (p.swp ? 0x08 : 0);
  body[3] = (p.ato ? 0x80 : 0) | (p.tas ? 0x40 : 0) | (p.autoloadMode & 7);
  body.writeUInt16BE(p.busyTimeoutPeriod, 6);
  body.writeUInt16BE(p.extendedSelfTestCompletionTime, 8);
  return encodePage0(CONTROL_PAGE, body);
}

export function decodeControlPage(b: Buffer): ControlPage {
  const body = decodePage0(b, CONTROL_PAGE, CONTROL_BODY_LENGTH);
  return {
    tst: body[0]! >> 5,
    tmfOnly: !!(body[0]! & 0x10),
    dSense: !!(body[0]! & 0x04),
    gltsd: !!(body[0]! & 0x02),
    rlec: !!(body[0]! & 0x01),
    queueAlgorithmModifier: body[1]! >> 4,
    nuar: !!(body[1]! & 0x08),
    qerr: (body[1]! >> 1) & 3,
    rac: !!(body[2]! & 0x40),
    uaIntlckCtrl: (body[2]! >> 4) & 3,
    swp: !!(body[2]! & 0x08),
    ato: !!(body[3]! & 0x80),
    tas: !!(body[3]! & 0x40),
    autoloadMode: body[3]! & 7,
    busyTimeoutPeriod: body.readUInt16BE(6),
    extendedSelfTestCompletionTime: body.readUInt16BE(8),
  };
}
