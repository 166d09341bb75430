/**
 * How the copy manager finds the logical units an EXTENDED COPY names. An identification CSCD
 * descriptor (cscd-descriptor.ts) carries a designator from VPD page 83h; it names a copy target
 * this process serves when it equals one of that LU's logical-unit designators (association 00b):
 * the NAA 6h designator (binary code set) or the T10 vendor ID designator (ASCII code set), both
 * derived from the volume UUID (identity.ts), so the answer is the same on every target and portal.
 *
 * `CopyTargetDirectory` is the interface the core implements; `copyTargets` is the process-wide
 * directory the core keeps current (ScsiTarget.addLun/removeLun register and unregister, counted,
 * because one LU may be mapped by several targets). The LU that received the EXTENDED COPY is
 * always a candidate, so copies within one LU work even before anything was registered.
 */
import { Association, CodeSet, DesignatorType } from '../vpd/device-identification.js';
import type { LogicalUnit } from '../logical-unit.js';

export interface CopyTargetDesignator {
  codeSet: number;
  association: number;
  designatorType: number;
  designator: Buffer;
}

export interface CopyTargetDirectory {
  findLogicalUnitByDesignator(d: CopyTargetDesignator): LogicalUnit | undefined;
}

/** Whether `d` is one of `lu`'s logical unit designators in VPD page 83h. */
export function designates(lu: LogicalUnit, d: CopyTargetDesignator): boolean {
  if (d.association !== Association.LOGICAL_UNIT) return false;
  if (d.designatorType === DesignatorType.NAA && d.codeSet === CodeSet.BINARY) {
    return d.designator.equals(lu.identity.naa);
  }
  if (d.designatorType === DesignatorType.T10_VENDOR_ID && d.codeSet === CodeSet.ASCII) {
    const t10 = Buffer.from(lu.vendor.padEnd(8, ' ').slice(0, 8) + lu.identity.serial, 'latin1');
    return d.designator.equals(t10);
  }
  return false;
}

/** Logical units registered by the targets that map them (a count per LU). */
export class LogicalUnitDirectory implements CopyTargetDirectory {
  private readonly units = new Map<LogicalUnit, number>();

  add(lu: LogicalUnit): void {
    this.units.set(lu, (this.units.get(lu) ?? 0) + 1);
  }

  delete(lu: LogicalUnit): void {
    const n = this.units.get(lu);
    if (n === undefined) return;
    if (n <= 1) this.units.delete(lu);
    else this.units.set(lu, n - 1);
  }

  has(lu: LogicalUnit): boolean {
    return this.units.has(lu);
  }

  findLogicalUnitByDesignator(d: CopyTargetDesignator): LogicalUnit | undefined {
    for (const lu of this.units.keys()) if (designates(lu, d)) return lu;
    return undefined;
  }
}

/** The process-wide directory of logical units that may be copy targets. */
export const copyTargets = new LogicalUnitDirectory();

/** `self` first (the copy manager's own LU), then the directory. */
export function resolveCopyTarget(
  self: LogicalUnit,
  d: CopyTargetDesignator,
  directory: CopyTargetDirectory = copyTargets,
): LogicalUnit | undefined {
  return designates(self, d) ? self : directory.findLogicalUnitByDesignator(d);
}
