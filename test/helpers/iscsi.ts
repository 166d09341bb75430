/**
 * Helpers for the iSCSI interop tests (test/iscsi-interop), which drive real initiators
 * (libiscsi's tools, QEMU's iscsi:// driver) against a `vdisk iscsi serve` child process:
 *
 * - `serveVdiskIscsi` starts the server (test/helpers/iscsi-targets.ts) and stops it after the
 *   test file or suite, whatever the test did.
 * - `skipWithoutIscsiPeers` says why the tests cannot run here (a missing tool, QEMU without its
 *   iscsi driver, a build without `vdisk iscsi serve`), or false.
 * - `QemuIoSession` keeps one qemu-io process (one iSCSI session, with its own initiator name)
 *   open and runs commands in it one at a time, so two sessions can be logged in at once.
 * - `inquiryFields` reads the `Key:Value` lines iscsi-inq prints.
 */
import { after } from 'node:test';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { qemuIscsiDriver, skipWithout } from './tools.js';
import {
  startVdiskIscsi,
  vdiskIscsiAvailable,
  type IscsiTarget,
  type StartOptions,
} from './iscsi-targets.js';

export { run, describeRun, type RunResult } from '../nbd/helpers.js';

/** Starts `vdisk iscsi serve`; it is stopped after the current test file or suite. */
export async function serveVdiskIscsi(opts: StartOptions): Promise<IscsiTarget> {
  const t = await startVdiskIscsi(opts);
  after(() => t.stop());
  return t;
}

/** False when every peer is there, else the reason to skip. */
export function skipWithoutIscsiPeers(
  tools: string[] = ['iscsi-inq', 'iscsi-ls', 'qemu-img', 'qemu-io'],
): string | false {
  const missing = skipWithout(...tools);
  if (missing) return missing;
  if (tools.some((t) => t.startsWith('qemu')) && !qemuIscsiDriver()) {
    return "QEMU's iscsi driver is not installed (Debian: qemu-block-extra; bash scripts/setup.sh)";
  }
  if (!vdiskIscsiAvailable()) return 'this build has no `vdisk iscsi serve`';
  return false;
}

/** The `Key:Value` lines of iscsi-inq's output (the last value wins for repeated keys). */
export function inquiryFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([^:[]+):(.*)$/.exec(line);
    if (m) fields.set(m[1]!.trim(), m[2]!.trim());
  }
  return fields;
}

/**
 * One long-lived qemu-io process. `cmd` sends one command and resolves to what qemu-io printed
 * for it (up to its next prompt). qemu-io reports a failed command in its output, not in a
 * status, so callers check the text.
 */
export class QemuIoSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffer = '';
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(args: string[]) {
    this.child = spawn('qemu-io', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const take = (d: Buffer): void => {
      this.buffer += d.toString();
      this.waiter?.();
    };
    this.child.stdout.on('data', take);
    this.child.stderr.on('data', take);
    this.child.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    after(() => this.close());
  }

  /** Opens `imageOpts` (qemu --image-opts syntax) and waits for the first prompt. */
  static async open(imageOpts: string, extra: string[] = []): Promise<QemuIoSession> {
    const s = new QemuIoSession([...extra, '--image-opts', imageOpts]);
    await s.untilPrompt();
    return s;
  }

  private async untilPrompt(timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!this.buffer.includes('qemu-io> ')) {
      if (this.closed) throw new Error(`qemu-io exited: ${this.buffer}`);
      if (Date.now() > deadline) throw new Error(`qemu-io gave no prompt: ${this.buffer}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 200);
      });
    }
    const i = this.buffer.indexOf('qemu-io> ');
    const out = this.buffer.slice(0, i);
    this.buffer = this.buffer.slice(i + 'qemu-io> '.length);
    return out;
  }

  async cmd(command: string): Promise<string> {
    this.child.stdin.write(`${command}\n`);
    return this.untilPrompt();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.child.stdin.end('quit\n');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      this.child.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** QEMU --image-opts for LUN `lun` of `target` through its first portal, as `initiator`. */
export function iscsiImageOpts(target: IscsiTarget, lun: number, initiator?: string, format = 'raw'): string {
  const opts = [
    `driver=${format}`,
    'file.driver=iscsi',
    'file.transport=tcp',
    `file.portal=${target.host}:${target.ports[0]}`,
    `file.target=${target.iqn}`,
    `file.lun=${lun}`,
  ];
  if (initiator) opts.push(`file.initiator-name=${initiator}`);
  return opts.join(',');
}
