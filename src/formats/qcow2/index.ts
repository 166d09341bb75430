/** The qcow2 format driver. */
export { Qcow2Image, combineBackingPath, type ImageOpener } from './qcow2.js';
export { QCOW2_MAGIC, decodeHeader, encodeHeader, INCOMPAT, COMPAT, type Qcow2Header } from './header.js';
export { decodeExtensions, encodeExtensions, EXT, type HeaderExtension } from './header-ext.js';
export * from './entries.js';
export * from './refcount-block.js';
export { decodeSnapshotTable, encodeSnapshotTable, type SnapshotEntry } from './snapshot-table.js';
export { parseCreateOptions } from './create.js';
export { type SnapshotInfo } from './snapshots.js';
