/**
 * The `img` verbs whose operation only qcow2 has (compressed writes, backing file rewrites,
 * amend, internal snapshots) ask for the image as a Qcow2Image here, and get a typed
 * NOT_SUPPORTED error in qemu-img's words when it is another format.
 */
import { Qcow2Image, type Image } from '../formats/index.js';
import { BlockError } from '../util/index.js';

export type Qcow2Operation = 'compress' | 'backing' | 'amend' | 'snapshots';

/** What qemu-img says when a format cannot do the operation. */
const UNSUPPORTED: Record<Qcow2Operation, (format: string) => string> = {
  compress: () => 'Compression not supported for this file format',
  backing: (f) => `Format driver '${f}' does not support changing the backing file`,
  amend: (f) => `Format driver '${f}' does not support option amendment`,
  snapshots: () => 'Operation not supported',
};

export function asQcow2(img: Image, op: Qcow2Operation): Qcow2Image {
  if (img instanceof Qcow2Image) return img;
  throw new BlockError('NOT_SUPPORTED', UNSUPPORTED[op](img.format));
}
