/**
 * Which external tools (the real peers tests drive) are installed: one lookup on PATH for every
 * test file, instead of each family of tests spawning its tools to find out.
 *
 * A test that needs a missing tool skips with the reason. On a machine set up by
 * `bash scripts/setup.sh` nothing is missing: test/setup.test.ts fails when a tool that setup.sh
 * installs is absent, so CI cannot pass by skipping.
 */
import fs from 'node:fs';
import path from 'node:path';

const found = new Map<string, boolean>();

/** The command is an executable file on PATH. */
export function onPath(cmd: string): boolean {
  let ok = found.get(cmd);
  if (ok === undefined) {
    ok = (process.env.PATH ?? '').split(':').some((dir) => {
      try {
        fs.accessSync(path.join(dir || '.', cmd), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    found.set(cmd, ok);
  }
  return ok;
}

/** False when every tool is installed, else the reason to skip. */
export function skipWithout(...tools: string[]): string | false {
  const missing = tools.find((t) => !onPath(t));
  return missing ? `${missing} is not installed (bash scripts/setup.sh)` : false;
}

/** QEMU's iscsi block driver (Debian's qemu-block-extra), which qemu-img/qemu-io need for iscsi://. */
export function qemuIscsiDriver(): boolean {
  return ['/usr/lib/x86_64-linux-gnu/qemu', '/usr/lib/aarch64-linux-gnu/qemu', '/usr/lib/qemu'].some((d) =>
    fs.existsSync(`${d}/block-iscsi.so`),
  );
}
