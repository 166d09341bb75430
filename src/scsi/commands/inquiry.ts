/**
 * INQUIRY (SPC-4 §6.4): standard data and the VPD pages, all derived from the LU's options and
 * the device's capabilities (DESIGN.md: NBD export flags and VPD pages come from the same facts).
 *
 * A LUN with no logical unit answers with peripheral qualifier 011b and device type 1Fh
 * (SPC-4 §6.4.2) through `inquiryForMissingLun`.
 */
import { decodeInquiryCdb } from '../cdb/inquiry-cdb.js';
import { encodeStandardInquiry, VersionDescriptor, type StandardInquiry } from '../data/standard-inquiry.js';
import { invalidCdbField } from '../errors.js';
import type { LogicalUnit } from '../logical-unit.js';
import type { ItNexus } from '../task.js';
import {
  encodeBlockDeviceCharacteristics,
  NON_ROTATING_MEDIUM,
} from '../vpd/block-device-characteristics.js';
import { encodeBlockLimits } from '../vpd/block-limits.js';
import {
  Association,
  CodeSet,
  DesignatorType,
  encodeDeviceIdentification,
  scsiNameString,
  u16Designator,
  type Designator,
} from '../vpd/device-identification.js';
import { encodeExtendedInquiry } from '../vpd/extended-inquiry.js';
import { encodeLogicalBlockProvisioning, ProvisioningType } from '../vpd/logical-block-provisioning.js';
import { VpdPageCode } from '../vpd/page.js';
import { encodeSupportedVpdPages } from '../vpd/supported-pages.js';
import { encodeUnitSerial } from '../vpd/unit-serial.js';
import { MAX_COMPARE_AND_WRITE_BLOCKS } from '../caw/index.js';
import { thirdPartyCopyPage } from '../xcopy/index.js';
import type { CommandContext, CommandResult } from './command.js';
import { limits } from './limits.js';

/** PERIPHERAL QUALIFIER 000b, PERIPHERAL DEVICE TYPE 00h (direct access block device). */
const DISK = 0x00;
/** PERIPHERAL QUALIFIER 011b, device type 1Fh: no logical unit at this LUN. */
export const NO_LU = 0x7f;

export const SUPPORTED_VPD_PAGES: readonly number[] = Object.values(VpdPageCode);

export function standardInquiryData(lu: LogicalUnit): StandardInquiry {
  return {
    peripheralQualifier: 0,
    deviceType: DISK,
    removable: lu.removable,
    version: 0x06,
    normAca: false,
    hiSup: true,
    // Implicit ALUA: REPORT TARGET PORT GROUPS says every port is active/optimized.
    tpgs: 1,
    // SPC-4 §6.4.2: 3PC = 1, the device server has a copy manager (xcopy/: EXTENDED COPY LID1).
    threePc: true,
    protect: false,
    multiP: false,
    cmdQue: true,
    vendor: lu.vendor,
    product: lu.product,
    revision: lu.revision,
    versionDescriptors: [
      VersionDescriptor.SAM5,
      VersionDescriptor.ISCSI,
      VersionDescriptor.SPC4,
      VersionDescriptor.SBC3,
    ],
  };
}

export function deviceIdentification(lu: LogicalUnit, nexus: ItNexus): Designator[] {
  const port = { protocolId: nexus.protocolId, piv: true };
  return [
    {
      protocolId: 0,
      codeSet: CodeSet.BINARY,
      piv: false,
      association: Association.LOGICAL_UNIT,
      type: DesignatorType.NAA,
      value: lu.identity.naa,
    },
    {
      protocolId: 0,
      codeSet: CodeSet.ASCII,
      piv: false,
      association: Association.LOGICAL_UNIT,
      type: DesignatorType.T10_VENDOR_ID,
      value: Buffer.from(lu.vendor.padEnd(8, ' ').slice(0, 8) + lu.identity.serial, 'latin1'),
    },
    {
      ...port,
      codeSet: CodeSet.UTF8,
      association: Association.TARGET_PORT,
      type: DesignatorType.SCSI_NAME_STRING,
      value: scsiNameString(nexus.targetPort),
    },
    {
      ...port,
      codeSet: CodeSet.BINARY,
      association: Association.TARGET_PORT,
      type: DesignatorType.RELATIVE_TARGET_PORT,
      value: u16Designator(nexus.relativeTargetPortId),
    },
    {
      ...port,
      codeSet: CodeSet.BINARY,
      association: Association.TARGET_PORT,
      type: DesignatorType.TARGET_PORT_GROUP,
      value: u16Designator(nexus.targetPortGroup),
    },
    {
      ...port,
      codeSet: CodeSet.UTF8,
      association: Association.TARGET_DEVICE,
      type: DesignatorType.SCSI_NAME_STRING,
      value: scsiNameString(nexus.targetName),
    },
  ];
}

function vpdPage(lu: LogicalUnit, nexus: ItNexus, page: number): Buffer | undefined {
  const l = limits(lu);
  switch (page) {
    case VpdPageCode.SUPPORTED_VPD_PAGES:
      return encodeSupportedVpdPages(DISK, SUPPORTED_VPD_PAGES);
    case VpdPageCode.UNIT_SERIAL_NUMBER:
      return encodeUnitSerial(DISK, lu.identity.serial);
    case VpdPageCode.DEVICE_IDENTIFICATION:
      return encodeDeviceIdentification(DISK, deviceIdentification(lu, nexus));
    case VpdPageCode.EXTENDED_INQUIRY:
      return encodeExtendedInquiry(DISK, {
        headSup: true,
        ordSup: true,
        simpSup: true,
        vSup: true,
        nvSup: false,
        luiclr: true,
        maxSenseLength: 0,
      });
    case VpdPageCode.THIRD_PARTY_COPY:
      return thirdPartyCopyPage(lu, DISK);
    case VpdPageCode.BLOCK_LIMITS:
      return encodeBlockLimits(DISK, {
        wsnz: false,
        maxCompareAndWriteLength: MAX_COMPARE_AND_WRITE_BLOCKS,
        optimalTransferLengthGranularity: l.optimalGranularity,
        maxTransferLength: l.maxTransferBlocks,
        optimalTransferLength: l.maxTransferBlocks,
        maxPrefetchLength: l.maxTransferBlocks,
        maxUnmapLbaCount: lu.canUnmap ? l.maxUnmapBlocks : 0,
        maxUnmapBlockDescriptorCount: lu.canUnmap ? l.maxUnmapDescriptors : 0,
        optimalUnmapGranularity: lu.canUnmap ? l.optimalGranularity : 0,
        ...(lu.canUnmap ? { unmapGranularityAlignment: 0 } : {}),
        maxWriteSameLength: BigInt(l.maxWriteSameBlocks),
      });
    case VpdPageCode.BLOCK_DEVICE_CHARACTERISTICS:
      return encodeBlockDeviceCharacteristics(DISK, {
        mediumRotationRate: lu.ssd ? NON_ROTATING_MEDIUM : 0,
        // SANITIZE BLOCK ERASE deallocates; reads afterwards return zeroes with GOOD status.
        wabereq: lu.canUnmap ? 1 : 0,
        wacereq: 0,
        nominalFormFactor: 0,
        fuab: false,
        vbuls: false,
      });
    case VpdPageCode.LOGICAL_BLOCK_PROVISIONING:
      return encodeLogicalBlockProvisioning(DISK, {
        thresholdExponent: 0,
        lbpu: lu.canUnmap,
        lbpws: lu.canUnmap,
        lbpws10: lu.canUnmap,
        lbprz: lu.unmapReadsZero,
        ancSup: false,
        provisioningType: lu.canUnmap ? ProvisioningType.THIN : ProvisioningType.FULL,
      });
    default:
      return undefined;
  }
}

export async function inquiry(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeInquiryCdb(ctx.cdb);
  if (!c.evpd) {
    // SPC-4 §6.4.1: "If the EVPD bit is set to zero and the PAGE CODE field is not set to
    // zero, the device server shall terminate the command ... INVALID FIELD IN CDB."
    if (c.pageCode !== 0) throw invalidCdbField(2);
    return { dataIn: encodeStandardInquiry(standardInquiryData(ctx.lu)) };
  }
  const page = vpdPage(ctx.lu, ctx.nexus, c.pageCode);
  if (!page) throw invalidCdbField(2);
  return { dataIn: page };
}

/** INQUIRY addressed to a LUN without a logical unit (SPC-4 §6.4.2: qualifier 011b, type 1Fh). */
export function inquiryForMissingLun(cdb: Buffer): Buffer {
  const c = decodeInquiryCdb(cdb);
  if (c.reservedBits) throw invalidCdbField(1, 31 - Math.clz32(c.reservedBits));
  if (!c.evpd) {
    if (c.pageCode !== 0) throw invalidCdbField(2);
    const b = encodeStandardInquiry({
      peripheralQualifier: 3,
      deviceType: 0x1f,
      removable: false,
      version: 0x06,
      normAca: false,
      hiSup: true,
      tpgs: 0,
      threePc: false,
      protect: false,
      multiP: false,
      cmdQue: true,
      vendor: 'VDISK',
      product: 'no logical unit',
      revision: '0001',
      versionDescriptors: [],
    });
    return b;
  }
  if (c.pageCode === VpdPageCode.SUPPORTED_VPD_PAGES) return encodeSupportedVpdPages(NO_LU, [0]);
  throw invalidCdbField(2);
}
