/**
 * REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS parameter data (SPC-4 §6.36.2, Tables 313-314).
 *
 * Byte 0: ATS(7) ATSS(6) CACAS(5) CTSS(4) LURS(3) QTS(2) TRS(1) WAKES(0); byte 1: QUAS(2)
 * QTSS(1) ITNRS(0); byte 3 ADDITIONAL DATA LENGTH (0Ch in the extended format). With REPD = 1
 * (extended format, 16 bytes): byte 4 TMFTMOV(0); byte 6 ATTS(7) ATSTS(6) CACATS(5) CTSTS(4)
 * LURTS(3) QTTS(2); byte 7 QAETS(2) QTSTS(1) ITNRTS(0); 8..11 TMF LONG TIMEOUT; 12..15 TMF SHORT
 * TIMEOUT (units of 100 ms). The core reports no per-function timeouts (TMFTMOV = 0).
 */
import { BlockError } from '../../util/index.js';

export const SUPPORTED_TMF_LENGTH = 4;
export const SUPPORTED_TMF_EXTENDED_LENGTH = 16;

export interface SupportedTmf {
  abortTask: boolean;
  abortTaskSet: boolean;
  clearAca: boolean;
  clearTaskSet: boolean;
  luReset: boolean;
  queryTask: boolean;
  targetReset: boolean;
  wakeup: boolean;
  queryAsyncEvent: boolean;
  queryTaskSet: boolean;
  itNexusReset: boolean;
}

export function encodeSupportedTmf(s: SupportedTmf, extended: boolean): Buffer {
  const b = Buffer.alloc(extended ? SUPPORTED_TMF_EXTENDED_LENGTH : SUPPORTED_TMF_LENGTH);
  b[0] =
    (s.abortTask ? 0x80 : 0) |
    (s.abortTaskSet ? 0x40 : 0) |
    (s.clearAca ? 0x20 : 0) |
    (s.clearTaskSet ? 0x10 : 0) |
    (s.luReset ? 0x08 : 0) |
    (s.queryTask ? 0x04 : 0) |
    (s.targetReset ? 0x02 : 0) |
    (s.wakeup ? 0x01 : 0);
  b[1] = (s.queryAsyncEvent ? 0x04 : 0) | (s.queryTaskSet ? 0x02 : 0) | (s.itNexusReset ? 0x01 : 0);
  if (extended) b[3] = SUPPORTED_TMF_EXTENDED_LENGTH - 4;
  return b;
}

export function decodeSupportedTmf(b: Buffer): SupportedTmf {
  if (b.length < 2) throw new BlockError('INVALID', 'supported TMF data too short');
  return {
    abortTask: !!(b[0]! & 0x80),
    abortTaskSet: !!(b[0]! & 0x40),
    clearAca: !!(b[0]! & 0x20),
    clearTaskSet: !!(b[0]! & 0x10),
    luReset: !!(b[0]! & 0x08),
    queryTask: !!(b[0]! & 0x04),
    targetReset: !!(b[0]! & 0x02),
    wakeup: !!(b[0]! & 0x01),
    queryAsyncEvent: !!(b[1]! & 0x04),
    queryTaskSet: !!(b[1]! & 0x02),
    itNexusReset: !!(b[1]! & 0x01),
  };
}
