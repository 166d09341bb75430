/**
 * QEMU as the peer:
 *
 * - golden bytes from a real server: qemu-nbd's greeting and option replies, its structured read
 *   and block status chunks, decoded by our codecs (and the greeting equal to ours);
 * - qemu-img convert, compare, map and info over nbd:// against vdisk;
 * - qemu-io writes with FUA, write zeroes (with and without unmap) and discard, read back through
 *   qemu-io and through the device.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openImage, type Image } from '../../src/formats/index.js';
import {
  HANDSHAKE_FLAGS,
  NBD_CMD,
  NBD_INFO,
  NBD_OPT,
  NBD_REP,
  decodeInfo,
  decodeServerReply,
  encodeGreeting,
  encodeInfoRequest,
  encodeMetaContextRequest,
  encodeOptionReply,
} from '../../src/nbd/index.js';
import { pattern, qemuImgOk, qemuIoOk } from '../helpers/qemu.js';
import { tmpDir } from '../helpers/tmp.js';
import { describeRun, RawClient, run, serve, skipWithout } from './helpers.js';

const MiB = 1024 * 1024;
const skip = await skipWithout('qemu-img', 'qemu-io', 'qemu-nbd');

/** Starts qemu-nbd on a Unix socket and waits until the socket exists. */
async function qemuNbd(args: string[], sock: string): Promise<ChildProcess> {
  const p = spawn('qemu-nbd', ['-k', sock, '-t', ...args], { stdio: 'ignore' });
  after(() => {
    p.kill('SIGKILL');
  });
  for (let i = 0; i < 200 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(fs.existsSync(sock), 'qemu-nbd is listening');
  return p;
}

describe('qemu tools against vdisk nbd', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-nbd-qemu-');

  test('golden bytes from qemu-nbd decode with our codecs, and its greeting is ours', async () => {
    const file = path.join(dir, 'golden.raw');
    fs.writeFileSync(file, Buffer.concat([pattern(64 * 1024, 3), Buffer.alloc(192 * 1024)]));
    const sock = path.join(dir, 'qemu.sock');
    await qemuNbd(['-f', 'raw', '-x', 'disk', '-D', 'golden', file], sock);
    const c = await RawClient.connect(sock);
    const greeting = await c.read(18);
    assert.deepEqual(greeting, encodeGreeting({ handshakeFlags: HANDSHAKE_FLAGS }));
    c.write(Buffer.from([0, 0, 0, 3]));
    const sr = await c.option(NBD_OPT.STRUCTURED_REPLY);
    assert.deepEqual(sr, [{ type: NBD_REP.ACK, data: Buffer.alloc(0) }]);
    assert.deepEqual(encodeOptionReply(NBD_OPT.STRUCTURED_REPLY, NBD_REP.ACK).subarray(16), Buffer.alloc(4));
    const list = await c.option(NBD_OPT.LIST);
    assert.deepEqual(decodeServerReply(list[0]!.data).name, 'disk');
    await c.option(
      NBD_OPT.SET_META_CONTEXT,
      encodeMetaContextRequest({ name: 'disk', queries: ['base:allocation'] }),
    );
    const go = await c.option(
      NBD_OPT.GO,
      encodeInfoRequest({ name: 'disk', requests: [NBD_INFO.BLOCK_SIZE, NBD_INFO.DESCRIPTION] }),
    );
    const infos = go.filter((r) => r.type === NBD_REP.INFO).map((r) => decodeInfo(r.data));
    const exp = infos.find((i) => i.type === 'export');
    assert.ok(exp?.type === 'export' && exp.size === 256 * 1024);
    assert.ok(infos.some((i) => i.type === 'block-size' && i.minimum >= 1 && i.maximum >= MiB));
    assert.ok(infos.some((i) => i.type === 'description' && i.text === 'golden'));
    c.request({ flags: 0, type: NBD_CMD.READ, handle: 5n, offset: 0, length: 256 * 1024 });
    const read = await c.reply();
    assert.equal(read.handle, 5n);
    const data = Buffer.alloc(256 * 1024, 0xff);
    for (const ch of read.chunks) {
      if (ch.type === 'offset-data') ch.data.copy(data, ch.offset);
      else if (ch.type === 'offset-hole') data.fill(0, ch.offset, ch.offset + ch.size);
    }
    assert.deepEqual(data, fs.readFileSync(file));
    c.request({ flags: 0, type: NBD_CMD.BLOCK_STATUS, handle: 6n, offset: 0, length: 256 * 1024 });
    const bs = await c.reply();
    assert.ok(bs.chunks[0]?.type === 'block-status' && bs.chunks[0].extents.length >= 1);
  });

  const src = path.join(dir, 'src.qcow2');
  qemuImgOk(['create', '-q', '-f', 'qcow2', src, '32M']);
  qemuIoOk(src, ['write -P 0x5a 1M 2M', 'write -P 0xa5 16M 64k', 'write -z 20M 1M']);
  const target = path.join(dir, 'target.raw');
  fs.writeFileSync(target, '');
  fs.truncateSync(target, 32 * MiB);
  const images: Image[] = [await openImage(src, { readOnly: true }), await openImage(target)];
  after(async () => {
    for (const i of images) await i.close();
  });
  const s = await serve([
    { name: 'src', device: images[0]! },
    { name: 'target', device: images[1]!, discard: 'unmap' },
  ]);

  test('qemu-img info, map, convert and compare over nbd://', async () => {
    const ok = async (args: string[]): Promise<string> => {
      const r = await run('qemu-img', args);
      assert.equal(r.status, 0, describeRun(r));
      return r.stdout;
    };
    const info = JSON.parse(await ok(['info', '--output=json', s.uri('src')])) as Record<string, unknown>;
    assert.equal(info['virtual-size'], 32 * MiB);
    const map = JSON.parse(await ok(['map', '--output=json', s.uri('src')])) as {
      start: number;
      length: number;
      data: boolean;
      zero: boolean;
    }[];
    assert.deepEqual(
      map.map((m) => [m.start, m.length, m.data, m.zero]),
      [
        [0, MiB, false, true],
        [MiB, 2 * MiB, true, false],
        [3 * MiB, 13 * MiB, false, true],
        [16 * MiB, 64 * 1024, true, false],
        [16 * MiB + 64 * 1024, 16 * MiB - 64 * 1024, false, true],
      ],
    );
    const out = path.join(dir, 'out.qcow2');
    let r = await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', s.uri('src'), out]);
    assert.equal(r.status, 0, describeRun(r));
    qemuImgOk(['compare', '-U', src, out]);
    r = await run('qemu-img', ['convert', '-n', '-f', 'qcow2', '-O', 'raw', src, s.uri('target')]);
    assert.equal(r.status, 0, describeRun(r));
    r = await run('qemu-img', ['compare', '-U', '-f', 'qcow2', '-F', 'raw', src, s.uri('target')]);
    assert.equal(r.status, 0, describeRun(r));
    r = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', s.uri('src'), s.uri('target')]);
    assert.equal(r.status, 0, describeRun(r));
  });

  test('qemu-io: FUA writes, write zeroes with and without unmap, discard', async () => {
    const io = (cmds: string[]) =>
      run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), s.uri('target')]);
    let r = await io([
      'write -f -P 0x61 0 128k',
      'write -z 128k 64k',
      'write -z -u 192k 64k',
      'discard 256k 64k',
    ]);
    assert.equal(r.status, 0, describeRun(r));
    assert.doesNotMatch(r.stdout + r.stderr, /error|failed/i, describeRun(r));
    r = await io(['read -P 0x61 0 128k', 'read -P 0 128k 128k', 'read -P 0 256k 64k', 'flush']);
    assert.equal(r.status, 0, describeRun(r));
    assert.doesNotMatch(r.stdout + r.stderr, /Pattern verification failed|error/i, describeRun(r));
    const b = Buffer.alloc(128 * 1024);
    await images[1]!.read(0, b);
    assert.deepEqual(b, Buffer.alloc(128 * 1024, 0x61));
    // The unmapped and discarded ranges are holes in the file again.
    const st = await images[1]!.blockStatus(192 * 1024, 128 * 1024);
    assert.ok(
      st.every((x) => !x.data),
      JSON.stringify(st),
    );
  });

  test('qemu-io on a read-only export: a read-write open is refused, reads work', async () => {
    let r = await run('qemu-io', ['-f', 'raw', '-c', 'write 0 4k', s.uri('src')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Permission denied|read-only/i, describeRun(r));
    r = await run('qemu-io', ['-r', '-f', 'raw', '-c', 'read -P 0x5a 1M 4k', s.uri('src')]);
    assert.equal(r.status, 0, describeRun(r));
    assert.match(r.stdout, /read 4096\/4096/, describeRun(r));
  });
});
