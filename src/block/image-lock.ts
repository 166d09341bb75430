/**
 * Image locks that QEMU understands.
 *
 * QEMU (block/file-posix.c) publishes each open image's permissions as open-file-description
 * byte-range locks on the image file itself: a shared lock on byte 100 + bit for every
 * permission the opener holds, and on byte 200 + bit for every permission it refuses to share.
 * An opener then conflicts when someone holds a permission it won't share (a lock on 100 + bit
 * for a bit it unshares) or refuses to share one it wants (a lock on 200 + bit for a bit it holds).
 *
 * vdisk speaks the same protocol, so vdisk and QEMU (qemu-img, qemu-io, qemu-nbd, a running VM)
 * refuse each other exactly as two QEMU processes would:
 * - a writer holds consistent-read, write and resize, and does not share write or resize;
 * - a reader holds consistent-read, and does not share write or resize (image metadata must not
 *   change under it), so readers share with readers but not with a writer.
 * OFD locks belong to the open file description, so a second open in the same process conflicts
 * too: one owner per image (DESIGN.md, "Decisions").
 */
import { BlockError } from '../util/index.js';
import { native } from './native.js';

/** QEMU's BLK_PERM_* bit numbers. */
export const PERM = {
  CONSISTENT_READ: 0,
  WRITE: 1,
  WRITE_UNCHANGED: 2,
  RESIZE: 3,
} as const;

const PERM_NAME: Record<number, string> = {
  [PERM.CONSISTENT_READ]: 'consistent read',
  [PERM.WRITE]: 'write',
  [PERM.WRITE_UNCHANGED]: 'write unchanged',
  [PERM.RESIZE]: 'resize',
};

const LOCK_PERM_BASE = 100;
const LOCK_SHARED_BASE = 200;
const ALL_PERMS = [PERM.CONSISTENT_READ, PERM.WRITE, PERM.WRITE_UNCHANGED, PERM.RESIZE];

export interface LockRequest {
  held: number[];
  unshared: number[];
}

export function lockRequestFor(writable: boolean): LockRequest {
  return writable
    ? {
        held: [PERM.CONSISTENT_READ, PERM.WRITE, PERM.WRITE_UNCHANGED, PERM.RESIZE],
        unshared: [PERM.WRITE, PERM.RESIZE],
      }
    : { held: [PERM.CONSISTENT_READ], unshared: [PERM.WRITE, PERM.RESIZE] };
}

/**
 * Takes the lock bytes for `req` on `fd`, then checks for conflicts with other openers.
 * Throws LOCKED naming the permission, in QEMU's words, when another process is in the way.
 */
export function acquireImageLock(fd: number, path: string, writable: boolean): void {
  const n = native();
  const req = lockRequestFor(writable);
  const taken: number[] = [];
  const fail = (perm: number, shared: boolean): never => {
    for (const off of taken) n.ofdUnlock(fd, off);
    const what = shared ? `shared "${PERM_NAME[perm]}"` : `"${PERM_NAME[perm]}"`;
    throw new BlockError(
      'LOCKED',
      `Failed to get ${what} lock on ${path}: is another process using the image?`,
    );
  };
  for (const bit of req.held) {
    if (!n.ofdLock(fd, LOCK_PERM_BASE + bit, false)) fail(bit, false);
    taken.push(LOCK_PERM_BASE + bit);
  }
  for (const bit of req.unshared) {
    if (!n.ofdLock(fd, LOCK_SHARED_BASE + bit, false)) fail(bit, true);
    taken.push(LOCK_SHARED_BASE + bit);
  }
  // Someone refuses to share a permission we hold?
  for (const bit of req.held) {
    if (n.ofdTest(fd, LOCK_SHARED_BASE + bit)) fail(bit, false);
  }
  // Someone holds a permission we refuse to share?
  for (const bit of req.unshared) {
    if (n.ofdTest(fd, LOCK_PERM_BASE + bit)) fail(bit, true);
  }
}

/** Drops every lock byte (closing the fd does the same). */
export function releaseImageLock(fd: number): void {
  const n = native();
  for (const bit of ALL_PERMS) {
    n.ofdUnlock(fd, LOCK_PERM_BASE + bit);
    n.ofdUnlock(fd, LOCK_SHARED_BASE + bit);
  }
}
