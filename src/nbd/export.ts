/**
 * An NBD export: a name, a description and the BlockDevice behind it, with the policy the server
 * was started with (read-only, discard mode). Its transmission flags and block sizes are computed
 * once from the device's capabilities (export-flags.ts) and never change while it is exported.
 *
 * The export does not own the device: whoever opened the image closes it, after the server has
 * drained the export's connections.
 */
import type { BlockDevice } from '../block/index.js';
import {
  blockSizes,
  isWritable,
  transmissionFlags,
  type BlockSizes,
  type DiscardMode,
  type ExportPolicy,
} from './export-flags.js';
import { NBD_MAX_STRING } from './constants.js';

export interface NbdExportConfig {
  name: string;
  description?: string;
  device: BlockDevice;
  readOnly?: boolean;
  discard?: DiscardMode;
}

export class NbdExport {
  readonly name: string;
  readonly description: string;
  readonly device: BlockDevice;
  readonly policy: ExportPolicy;
  readonly sizes: BlockSizes;
  readonly writable: boolean;
  private readonly flagsPlain: number;
  private readonly flagsStructured: number;

  constructor(c: NbdExportConfig) {
    if (Buffer.byteLength(c.name, 'utf8') > NBD_MAX_STRING || c.name.includes('\0')) {
      throw new RangeError(`export name '${c.name}' is not a valid NBD string`);
    }
    this.name = c.name;
    this.description = c.description ?? '';
    this.device = c.device;
    this.policy = { readOnly: c.readOnly ?? false, discard: c.discard ?? 'ignore' };
    this.sizes = blockSizes(c.device.caps);
    this.writable = isWritable(c.device.caps, this.policy);
    this.flagsPlain = transmissionFlags(c.device.caps, this.policy, false);
    this.flagsStructured = transmissionFlags(c.device.caps, this.policy, true);
  }

  /** The export's size, as the device reports it now. */
  get size(): number {
    return this.device.size;
  }

  /** Transmission flags for a connection with or without structured replies. */
  flags(structuredReplies: boolean): number {
    return structuredReplies ? this.flagsStructured : this.flagsPlain;
  }
}

/** The exports a server offers, by name. The empty name selects the first (default) export. */
export class ExportTable {
  private readonly byName = new Map<string, NbdExport>();
  private readonly order: NbdExport[] = [];

  constructor(exports: NbdExport[]) {
    for (const e of exports) {
      if (this.byName.has(e.name)) throw new RangeError(`two exports are named '${e.name}'`);
      this.byName.set(e.name, e);
      this.order.push(e);
    }
  }

  find(name: string): NbdExport | undefined {
    return this.byName.get(name) ?? (name === '' ? this.order[0] : undefined);
  }

  all(): readonly NbdExport[] {
    return this.order;
  }
}
