/**
 * CDBs of the reporting commands.
 *
 * REPORT LUNS (SPC-4 §6.33, Table 289): byte 2 SELECT REPORT, bytes 6..9 ALLOCATION LENGTH.
 * REPORT SUPPORTED OPERATION CODES (MAINTENANCE IN A3h/0Ch, SPC-4 §6.35, Table 304): byte 2
 * RCTD(7) REPORTING OPTIONS(2..0), byte 3 REQUESTED OPERATION CODE, bytes 4..5 REQUESTED SERVICE
 * ACTION, bytes 6..9 ALLOCATION LENGTH.
 * REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (A3h/0Dh, SPC-4 §6.36, Table 311): byte 2 REPD(7),
 * bytes 6..9 ALLOCATION LENGTH.
 * REPORT TARGET PORT GROUPS (A3h/0Ah, SPC-4 §6.37, Table 315): byte 1 PARAMETER DATA FORMAT(7..5)
 * with the service action, bytes 6..9 ALLOCATION LENGTH.
 */
export const REPORT_LUNS = 0xa0;
export const MAINTENANCE_IN = 0xa3;
export const RSOC_SA = 0x0c;
export const RSTMF_SA = 0x0d;
export const RTPG_SA = 0x0a;

export interface ReportLunsCdb {
  selectReport: number;
  allocationLength: number;
}

export interface RsocCdb {
  rctd: boolean;
  reportingOptions: number;
  requestedOpcode: number;
  requestedServiceAction: number;
  allocationLength: number;
}

export interface RstmfCdb {
  repd: boolean;
  allocationLength: number;
}

export function decodeReportLunsCdb(cdb: Buffer): ReportLunsCdb {
  return { selectReport: cdb[2]!, allocationLength: cdb.readUInt32BE(6) };
}

export function encodeReportLunsCdb(c: ReportLunsCdb): Buffer {
  const b = Buffer.alloc(12);
  b[0] = REPORT_LUNS;
  b[2] = c.selectReport;
  b.writeUInt32BE(c.allocationLength, 6);
  return b;
}

export function decodeRsocCdb(cdb: Buffer): RsocCdb {
  return {
    rctd: !!(cdb[2]! & 0x80),
    reportingOptions: cdb[2]! & 0x07,
    requestedOpcode: cdb[3]!,
    requestedServiceAction: cdb.readUInt16BE(4),
    allocationLength: cdb.readUInt32BE(6),
  };
}

export function encodeRsocCdb(c: RsocCdb): Buffer {
  const b = Buffer.alloc(12);
  b[0] = MAINTENANCE_IN;
  b[1] = RSOC_SA;
  b[2] = (c.rctd ? 0x80 : 0) | (c.reportingOptions & 7);
  b[3] = c.requestedOpcode;
  b.writeUInt16BE(c.requestedServiceAction, 4);
  b.writeUInt32BE(c.allocationLength, 6);
  return b;
}

export function decodeRstmfCdb(cdb: Buffer): RstmfCdb {
  return { repd: !!(cdb[2]! & 0x80), allocationLength: cdb.readUInt32BE(6) };
}

export function encodeRstmfCdb(c: RstmfCdb): Buffer {
  const b = Buffer.alloc(12);
  b[0] = MAINTENANCE_IN;
  b[1] = RSTMF_SA;
  b[2] = c.repd ? 0x80 : 0;
  b.writeUInt32BE(c.allocationLength, 6);
  return b;
}

export interface RtpgCdb {
  /** 000b length-only header, 001b extended header. */
  parameterDataFormat: number;
  allocationLength: number;
}

export function decodeRtpgCdb(cdb: Buffer): RtpgCdb {
  return { parameterDataFormat: cdb[1]! >> 5, allocationLength: cdb.readUInt32BE(6) };
}

export function encodeRtpgCdb(c: RtpgCdb): Buffer {
  const b = Buffer.alloc(12);
  b[0] = MAINTENANCE_IN;
  b[1] = ((c.parameterDataFormat & 7) << 5) | RTPG_SA;
  b.writeUInt32BE(c.allocationLength, 6);
  return b;
}
