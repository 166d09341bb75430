/**
 * Temporary directories for tests, removed when the test file finishes (node:test `after`) and,
 * as a fallback, when the process exits.
 *
 * The base is $VDISK_TEST_TMPDIR, else the OS temp dir. Tests of cache=none need a file system
 * that does real O_DIRECT (ext4, xfs, btrfs); `directIoUnavailable` says why a base cannot.
 */
import { after } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const created = new Set<string>();
let exitHookInstalled = false;

function removeAll(): void {
  for (const dir of created) fs.rmSync(dir, { recursive: true, force: true });
  created.clear();
}

/**
 * Creates a fresh directory under `base` (default: $VDISK_TEST_TMPDIR or the OS temp dir) and
 * registers its removal after the current test file (or suite, when called inside one).
 */
export function tmpDir(prefix = 'vdisk-test-', base = process.env.VDISK_TEST_TMPDIR ?? os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(base, prefix));
  created.add(dir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', removeAll);
  }
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    created.delete(dir);
  });
  return dir;
}

const TMPFS_MAGIC = 0x01021994;

/** Why direct I/O tests cannot run in `dir`, or undefined when they can. */
export function directIoUnavailable(dir: string): string | undefined {
  if (fs.statfsSync(dir).type === TMPFS_MAGIC) return `${dir} is on tmpfs, which does no real O_DIRECT`;
  const probe = path.join(dir, `.direct-probe-${process.pid}`);
  try {
    fs.closeSync(fs.openSync(probe, fs.constants.O_CREAT | fs.constants.O_RDWR | fs.constants.O_DIRECT));
    return undefined;
  } catch (err) {
    return `${dir} does not support O_DIRECT (${(err as Error).message})`;
  } finally {
    fs.rmSync(probe, { force: true });
  }
}
