/**
 * Caching mode page (SBC-3 §6.4.5, Table 166): page code 08h, length 12h.
 * Byte 2: IC(7) ABPF(6) CAP(5) DISC(4) SIZE(3) WCE(2) MF(1) RCD(0);
 * byte 3: DEMAND READ RETENTION PRIORITY(7..4) WRITE RETENTION PRIORITY(3..0);
 * 4..5 DISABLE PRE-FETCH TRANSFER LENGTH; 6..7 MINIMUM PRE-FETCH; 8..9 MAXIMUM PRE-FETCH;
 * 10..11 MAXIMUM PRE-FETCH CEILING; byte 12 FSW(7) LBCSS(6) DRA(5) NV_DIS(0);
 * byte 13 NUMBER OF CACHE SEGMENTS; 14..15 CACHE SEGMENT SIZE.
 */
import { decodePage0, encodePage0 } from './page-header.js';

export const CACHING_PAGE = 0x08;
export const CACHING_BODY_LENGTH = 0x12;
/** Byte 2 (page offset) bit of WCE, for field pointers and masks. */
export const WCE_BIT = 2;

export interface CachingPage {
  wce: boolean;
  rcd: boolean;
  /** Raw byte 2 bits other than WCE and RCD. */
  otherFlags: number;
  disablePrefetchTransferLength: number;
  minimumPrefetch: number;
  maximumPrefetch: number;
  maximumPrefetchCeiling: number;
  /** Byte 12 raw (FSW, LBCSS, DRA, NV_DIS). */
  flags12: number;
  numberOfCacheSegments: number;
}

export function encodeCachingPage(p: CachingPage): Buffer {
  const body = Buffer.alloc(CACHING_BODY_LENGTH);
  body[0] = (p.otherFlags & ~0x05) | (p.wce ? 0x04 : 0) | (p.rcd ? 0x01 : 0);
  body.writeUInt16BE(p.disablePrefetchTransferLength, 2);
  body.writeUInt16BE(p.minimumPrefetch, 4);
  body.writeUInt16BE(p.maximumPrefetch, 6);
  body.writeUInt16BE(p.maximumPrefetchCeiling, 8);
  body[10] = p.flags12;
  body[11] = p.numberOfCacheSegments;
  return encodePage0(CACHING_PAGE, body);
}

export function decodeCachingPage(b: Buffer): CachingPage {
  const body = decodePage0(b, CACHING_PAGE, CACHING_BODY_LENGTH);
  return {
    wce: !!(body[0]! & 0x04),
    rcd: !!(body[0]! & 0x01),
    otherFlags: body[0]! & ~0x05 & 0xff,
    disablePrefetchTransferLength: body.readUInt16BE(2),
    minimumPrefetch: body.readUInt16BE(4),
    maximumPrefetch: body.readUInt16BE(6),
    maximumPrefetchCeiling: body.readUInt16BE(8),
    flags12: body[10]!,
    numberOfCacheSegments: body[11]!,
  };
}
