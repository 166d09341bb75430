/**
 * Shared state of one open qcow2 image: the host file, the decoded header, geometry, the
 * metadata lock and the corruption state. Every part of the driver (refcounts, cluster map,
 * check) works on this object.
 *
 * Concurrency: `meta` serialises every metadata mutation (refcounts, L1/L2 entries, header,
 * table growth). Data I/O runs outside it; guest-range locking lives in qcow2.ts.
 *
 * Corruption is a state (STYLE.md, QEMU): `markCorrupt` records the problem, sets the header's
 * corrupt bit when the image is writable, and every later write fails with CORRUPT.
 */
import type { HostFile } from '../../block/index.js';
import { BlockError, Mutex } from '../../util/index.js';
import { encodeHeader, INCOMPAT, type Qcow2Header } from './header.js';

export class Qcow2State {
  readonly clusterSize: number;
  readonly clusterBits: number;
  readonly l2Entries: number;
  /** Extended L2 entries (16 bytes, 32 subclusters per cluster). */
  readonly extL2: boolean;
  /** Bytes per L2 entry: 8, or 16 with extended L2. */
  readonly l2EntrySize: number;
  /** The unit of allocation state: the cluster, or a 1/32 subcluster with extended L2. */
  readonly subclusterSize: number;
  readonly refcountBits: number;
  readonly meta = new Mutex();
  /** Cluster offsets known to hold metadata; data must never land on them. */
  readonly metadataClusters = new Set<number>();
  corruptReason: string | undefined;

  constructor(
    readonly file: HostFile,
    public header: Qcow2Header,
    readonly readOnly: boolean,
  ) {
    this.clusterBits = header.clusterBits;
    this.clusterSize = 2 ** header.clusterBits;
    this.extL2 = (header.incompatibleFeatures & INCOMPAT.EXTL2) !== 0n;
    this.l2EntrySize = this.extL2 ? 16 : 8;
    this.l2Entries = this.clusterSize / this.l2EntrySize;
    this.subclusterSize = this.extL2 ? this.clusterSize / 32 : this.clusterSize;
    this.refcountBits = 2 ** header.refcountOrder;
  }

  get v3(): boolean {
    return this.header.version === 3;
  }

  clusterOf(offset: number): number {
    return Math.floor(offset / this.clusterSize);
  }

  /** Records corruption, flags it in the header (best effort) and returns the error to throw. */
  markCorrupt(reason: string): BlockError {
    if (!this.corruptReason) {
      this.corruptReason = reason;
      if (!this.readOnly && this.v3) {
        this.header.incompatibleFeatures |= INCOMPAT.CORRUPT;
        // Best effort: the image is already inconsistent; a failure here changes nothing.
        this.writeHeaderFields().catch(() => undefined);
      }
    }
    return new BlockError(
      'CORRUPT',
      `qcow2 image ${this.file.path} is corrupt: ${reason}; it will not be written further`,
    );
  }

  assertWritable(): void {
    if (this.readOnly) throw new BlockError('READ_ONLY', 'the image is open read-only');
    if (this.corruptReason) {
      throw new BlockError(
        'CORRUPT',
        `qcow2 image ${this.file.path} is corrupt: ${this.corruptReason}; it will not be written further`,
      );
    }
  }

  /** Rewrites the fixed header fields (not the extensions) in place and syncs. */
  async writeHeaderFields(): Promise<void> {
    await this.file.pwrite(0, encodeHeader(this.header));
    await this.file.flush();
  }

  /** Guards a host range that data is about to be written to. */
  checkDataTarget(hostOffset: number, length: number): void {
    for (
      let c = hostOffset - (hostOffset % this.clusterSize);
      c < hostOffset + length;
      c += this.clusterSize
    ) {
      if (this.metadataClusters.has(c)) {
        throw this.markCorrupt(`data write to host offset 0x${c.toString(16)} would overwrite metadata`);
      }
    }
  }
}
