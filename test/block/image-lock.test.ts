/**
 * Image locks against real peers: vdisk speaks QEMU's OFD lock protocol, so qemu-io and vdisk
 * refuse each other exactly as two QEMU processes would, and a second vdisk process (or a second
 * open in this one) is refused while the image is held for writing.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HostFile, lockRequestFor, PERM } from '../../src/block/index.js';
import { BlockError } from '../../src/util/index.js';
import { tmpDir } from '../helpers/tmp.js';

const dir = tmpDir('vdisk-lock-');
const haveQemuIo = spawnSync('qemu-io', ['--version']).status === 0;
const noQemu = haveQemuIo ? false : 'qemu-io is not installed';
let fileCounter = 0;

function makeImage(): string {
  const p = path.join(dir, `img${++fileCounter}.raw`);
  fs.writeFileSync(p, Buffer.alloc(64 * 1024, 0x5a));
  return p;
}

/** One-shot qemu-io: reads the first sector of `file` as raw. */
function qemuRead(file: string, ...flags: string[]): { status: number | null; out: string } {
  const r = spawnSync('qemu-io', [...flags, '-f', 'raw', '-c', 'read 0 512', file], {
    encoding: 'utf8',
    timeout: 20000,
  });
  return { status: r.status, out: r.stdout + r.stderr };
}

function isLocked(err: unknown): boolean {
  return err instanceof BlockError && err.code === 'LOCKED' && /lock/.test(err.message);
}

/** An interactive qemu-io that keeps `file` open (read-write) until `quit`. */
async function startQemuIo(
  file: string,
): Promise<{ proc: ChildProcessWithoutNullStreams; quit(): Promise<void> }> {
  const proc = spawn('qemu-io', ['-f', 'raw', file], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const collect = (b: Buffer): void => {
    out += b.toString();
  };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  // The prompt appears once the image is open (and its locks are taken).
  const deadline = Date.now() + 20000;
  while (!out.includes('qemu-io>')) {
    if (proc.exitCode !== null) throw new Error(`qemu-io exited: ${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`qemu-io did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.doesNotMatch(out, /can't open|lock/i, 'qemu-io opened the image');
  let quitted = false;
  const quit = async (): Promise<void> => {
    if (quitted) return;
    quitted = true;
    proc.stdin.end('quit\n');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  };
  after(quit);
  return { proc, quit };
}

/** Opens `file` from a second Node process with vdisk; resolves to "OPENED" or the error code. */
function openInChild(file: string, readOnly: boolean): string {
  const blockIndex = new URL('../../src/block/index.js', import.meta.url).href;
  const script = `
    const { HostFile } = await import(${JSON.stringify(blockIndex)});
    try {
      const f = await HostFile.open(${JSON.stringify(file)}, { readOnly: ${readOnly} });
      console.log('OPENED');
      await f.close();
    } catch (e) {
      console.log(e.code ?? 'NO_CODE', e.message);
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('the lock request matches what QEMU takes for a writer and a reader', () => {
  assert.deepEqual(lockRequestFor(true), {
    held: [PERM.CONSISTENT_READ, PERM.WRITE, PERM.WRITE_UNCHANGED, PERM.RESIZE],
    unshared: [PERM.WRITE, PERM.RESIZE],
  });
  assert.deepEqual(lockRequestFor(false), {
    held: [PERM.CONSISTENT_READ],
    unshared: [PERM.WRITE, PERM.RESIZE],
  });
});

describe('vdisk against qemu-io', { skip: noQemu }, () => {
  test('a writable open makes qemu-io fail with a lock error; qemu-io -U still reads', async () => {
    const file = makeImage();
    assert.equal(qemuRead(file).status, 0, 'qemu-io can read the image before vdisk opens it');
    const hf = await HostFile.open(file);
    try {
      const plain = qemuRead(file);
      assert.notEqual(plain.status, 0, plain.out);
      assert.match(plain.out, /Failed to get "write" lock/);
      const shared = qemuRead(file, '-U', '-r');
      assert.equal(shared.status, 0, shared.out);
      assert.match(shared.out, /read 512\/512 bytes at offset 0/);
    } finally {
      await hf.close();
    }
    const afterClose = qemuRead(file);
    assert.equal(afterClose.status, 0, `the lock is gone after close: ${afterClose.out}`);
  });

  test('a read-only vdisk open also keeps a qemu-io writer out', async () => {
    const file = makeImage();
    const hf = await HostFile.open(file, { readOnly: true });
    try {
      const r = qemuRead(file);
      assert.notEqual(r.status, 0, r.out);
      assert.match(r.out, /Failed to get "write" lock/);
    } finally {
      await hf.close();
    }
    assert.equal(qemuRead(file).status, 0);
  });

  test('lock: false takes no lock', async () => {
    const file = makeImage();
    const hf = await HostFile.open(file, { lock: false });
    try {
      const r = qemuRead(file);
      assert.equal(r.status, 0, r.out);
    } finally {
      await hf.close();
    }
  });

  test('vdisk refuses an image that a running qemu-io holds open, and takes it after qemu-io quits', async () => {
    const file = makeImage();
    const q = await startQemuIo(file);
    try {
      await assert.rejects(HostFile.open(file), (err: unknown) => {
        assert.ok(isLocked(err), String(err));
        assert.match((err as Error).message, /Failed to get shared "write" lock/);
        assert.ok((err as Error).message.includes(file));
        return true;
      });
      await assert.rejects(HostFile.open(file, { readOnly: true }), isLocked);
    } finally {
      await q.quit();
    }
    const hf = await HostFile.open(file);
    await hf.close();
  });
});

describe('vdisk against vdisk', () => {
  test('two read-only opens share the image', async () => {
    const file = makeImage();
    const a = await HostFile.open(file, { readOnly: true });
    const b = await HostFile.open(file, { readOnly: true });
    const buf = Buffer.alloc(10);
    await b.read(0, buf);
    assert.ok(buf.equals(Buffer.alloc(10, 0x5a)));
    await a.close();
    await b.close();
  });

  test('a read-only open and a writable open exclude each other, in both orders', async () => {
    const file = makeImage();
    const reader = await HostFile.open(file, { readOnly: true });
    await assert.rejects(HostFile.open(file), (err: unknown) => {
      assert.ok(isLocked(err), String(err));
      assert.match((err as Error).message, /Failed to get "write" lock/);
      return true;
    });
    await reader.close();

    const writer = await HostFile.open(file);
    await assert.rejects(HostFile.open(file, { readOnly: true }), (err: unknown) => {
      assert.ok(isLocked(err), String(err));
      assert.match((err as Error).message, /Failed to get shared "write" lock/);
      return true;
    });
    await assert.rejects(HostFile.open(file), isLocked, 'a second writer in the same process is refused');
    await writer.close();

    // Failed opens left nothing behind: a writer gets in now.
    const again = await HostFile.open(file);
    await again.close();
  });

  test('a second vdisk process is refused while this one holds the image, admitted after close', async () => {
    const file = makeImage();
    const hf = await HostFile.open(file);
    try {
      assert.match(openInChild(file, false), /^LOCKED .*lock/);
      assert.match(openInChild(file, true), /^LOCKED .*lock/);
    } finally {
      await hf.close();
    }
    assert.equal(openInChild(file, false), 'OPENED');
  });

  test('while this process reads the image, another process may read it too but not write it', async () => {
    const file = makeImage();
    const reader = await HostFile.open(file, { readOnly: true });
    try {
      assert.equal(openInChild(file, true), 'OPENED');
      assert.match(openInChild(file, false), /^LOCKED /);
    } finally {
      await reader.close();
    }
  });
});
