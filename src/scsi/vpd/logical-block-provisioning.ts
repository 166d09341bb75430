/**
 * Logical Block Provisioning VPD page (SBC-3 §6.5.4, Table 185): page length 0004h without a
 * provisioning group descriptor.
 * Byte 4 THRESHOLD EXPONENT; byte 5 LBPU(7) LBPWS(6) LBPWS10(5) LBPRZ(2) ANC_SUP(1) DP(0);
 * byte 6 PROVISIONING TYPE(2..0): 0 = not reported / fully provisioned, 1 = resource
 * provisioned, 2 = thin provisioned.
 */
import { decodeVpdPage, encodeVpdPage, VpdPageCode } from './page.js';

export const ProvisioningType = { FULL: 0, RESOURCE: 1, THIN: 2 } as const;

export interface LogicalBlockProvisioning {
  thresholdExponent: number;
  lbpu: boolean;
  lbpws: boolean;
  lbpws10: boolean;
  lbprz: boolean;
  ancSup: boolean;
  provisioningType: number;
}

export function encodeLogicalBlockProvisioning(peripheral: number, d: LogicalBlockProvisioning): Buffer {
  const b = Buffer.alloc(4);
  b[0] = d.thresholdExponent;
  b[1] =
    (d.lbpu ? 0x80 : 0) |
    (d.lbpws ? 0x40 : 0) |
    (d.lbpws10 ? 0x20 : 0) |
    (d.lbprz ? 0x04 : 0) |
    (d.ancSup ? 0x02 : 0);
  b[2] = d.provisioningType & 7;
  return encodeVpdPage(peripheral, VpdPageCode.LOGICAL_BLOCK_PROVISIONING, b);
}

export function decodeLogicalBlockProvisioning(page: Buffer): LogicalBlockProvisioning {
  const b = Buffer.alloc(4);
  decodeVpdPage(page, VpdPageCode.LOGICAL_BLOCK_PROVISIONING).body.copy(b);
  return {
    thresholdExponent: b[0]!,
    lbpu: !!(b[1]! & 0x80),
    lbpws: !!(b[1]! & 0x40),
    lbpws10: !!(b[1]! & 0x20),
    lbprz: !!(b[1]! & 0x04),
    ancSup: !!(b[1]! & 0x02),
    provisioningType: b[2]! & 7,
  };
}
