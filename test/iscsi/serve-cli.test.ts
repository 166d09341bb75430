/**
 * `vdisk iscsi serve` as a process, with real initiators: iscsi-inq and iscsi-ls (libiscsi),
 * qemu-io and qemu-img over iscsi:// URLs (write/read/verify patterns, convert and compare),
 * header digests negotiated by libiscsi and QEMU, CHAP
 * one-way and mutual through libiscsi URLs (user%secret@, target_user/target_password), a wrong
 * secret refused, a config file with two targets, SIGTERM with a clean exit, and bad arguments
 * answered with one line and exit 1.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnServing, VDISK, type ServingProcess } from '../helpers/serve.js';
import { tmpDir } from '../helpers/tmp.js';
import { describeRun, run, skipWithout } from './helpers.js';

const skip = await skipWithout('iscsi-inq', 'iscsi-ls', 'qemu-io', 'qemu-img');
const IQN = 'iqn.2026-11.io.vdisk.test:cli';

async function startServer(args: string[], luns = 1): Promise<ServingProcess & { urls: string[] }> {
  const s = await spawnServing(['iscsi', 'serve', '--portal', '127.0.0.1:0', ...args], luns);
  return { ...s, urls: s.lines };
}

async function ok(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, 60_000);
  assert.equal(r.status, 0, describeRun(r));
  return r.stdout;
}

describe('vdisk iscsi serve', { skip }, () => {
  if (skip) return;
  const dir = tmpDir('vdisk-iscsi-cli-');
  const raw = path.join(dir, 'disk.raw');
  const qcow = path.join(dir, 'disk.qcow2');
  fs.writeFileSync(raw, Buffer.alloc(0));
  fs.truncateSync(raw, 64 << 20);

  test('iscsi-inq, iscsi-ls and qemu-io patterns against a raw and a qcow2 LUN', async () => {
    await ok('qemu-img', ['create', '-q', '-f', 'qcow2', qcow, '32M']);
    const srv = await startServer(
      ['--target', IQN, '--lun', `0=${raw}`, '--lun', `1=${qcow},format=qcow2,ssd=1,discard=on`],
      2,
    );
    assert.match(srv.urls[0]!, /^iscsi:\/\/127\.0\.0\.1:\d+\/iqn\.2026-11\.io\.vdisk\.test:cli\/0$/);
    assert.match(srv.urls[1]!, /\/1$/);
    const inq = await ok('iscsi-inq', [srv.urls[0]!]);
    assert.match(inq, /Peripheral Device Type:DIRECT_ACCESS/);
    const port = /:(\d+)\//.exec(srv.urls[0]!)![1];
    const ls = await ok('iscsi-ls', ['-s', `iscsi://127.0.0.1:${port}`]);
    assert.match(ls, new RegExp(`Target:${IQN.replace(/\./g, '\\.')} Portal:127\\.0\\.0\\.1:${port},1`));
    // iscsi-ls prints the last LBA times the block size (tgtd's 64 MiB LUN shows 63M too).
    assert.match(ls, /Lun:0\s+Type:DIRECT_ACCESS \(Size:63M\)/);
    assert.match(ls, /Lun:1\s+Type:DIRECT_ACCESS \(Size:31M\)/);
    for (const url of srv.urls) {
      const out = await ok('qemu-io', [
        '-f',
        'raw',
        '-c',
        'write -P 0x5a 0 1M',
        '-c',
        'write -P 0xa5 1M 4k',
        '-c',
        'write -z 2M 64k',
        '-c',
        'write -f -P 0x33 3M 8k',
        '-c',
        'read -P 0x5a 0 1M',
        '-c',
        'read -P 0xa5 1M 4k',
        '-c',
        'read -P 0 2M 64k',
        '-c',
        'read -P 0x33 3M 8k',
        '-c',
        'discard 4M 1M',
        url,
      ]);
      assert.doesNotMatch(out, /Pattern verification failed|error/i, out);
    }
    // qemu-img convert from the iSCSI LUN and compare with it.
    const copy = path.join(dir, 'copy.raw');
    await ok('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', srv.urls[0]!, copy]);
    await ok('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', srv.urls[0]!, copy]);
    srv.proc.kill('SIGTERM');
    assert.equal(await srv.exited, 0, srv.stderr());
    // The writes are in the image file after the clean exit.
    const fd = fs.openSync(raw, 'r');
    const b = Buffer.alloc(4096);
    fs.readSync(fd, b, 0, 4096, 1 << 20);
    fs.closeSync(fd);
    assert.deepEqual(b, Buffer.alloc(4096, 0xa5));
  });

  test('header digests (CRC32C) with libiscsi and QEMU', async () => {
    const srv = await startServer([
      '--target',
      IQN,
      '--lun',
      `0=${raw}`,
      '--nop-interval',
      '1',
      '--nop-timeout',
      '5',
    ]);
    await ok('iscsi-inq', [`${srv.urls[0]!}?header_digest=crc32c`]);
    const port = /:(\d+)\//.exec(srv.urls[0]!)![1];
    const out = await ok('qemu-io', [
      '--image-opts',
      '-c',
      'write -P 0x3c 8M 1M',
      '-c',
      'read -P 0x3c 8M 1M',
      `driver=iscsi,transport=tcp,portal=127.0.0.1:${port},target=${IQN},lun=0,header-digest=crc32c`,
    ]);
    assert.doesNotMatch(out, /Pattern verification failed/);
  });

  test('CHAP: one-way and mutual through libiscsi URLs; a wrong secret is refused', async () => {
    const srv = await startServer([
      '--target',
      IQN,
      '--lun',
      `0=${raw}`,
      '--chap',
      'alice:alice-secret-12',
      '--mutual-chap',
      'target:target-secret-16',
    ]);
    const url = srv.urls[0]!;
    const withUser = (u: string): string => url.replace('iscsi://', `iscsi://${u}@`);
    await ok('iscsi-inq', [withUser('alice%alice-secret-12')]);
    // Discovery and then a login per target, with the credentials (libiscsi repeats its
    // leading keys in every security-stage request).
    const port = /:(\d+)\//.exec(url)![1];
    const ls = await ok('iscsi-ls', ['-s', `iscsi://alice%alice-secret-12@127.0.0.1:${port}`]);
    assert.match(ls, /Lun:0\s+Type:DIRECT_ACCESS/);
    await ok('iscsi-inq', [
      `${withUser('alice%alice-secret-12')}?target_user=target&target_password=target-secret-16`,
    ]);
    const wrongTarget = await run('iscsi-inq', [
      `${withUser('alice%alice-secret-12')}?target_user=target&target_password=wrong-secret-16`,
    ]);
    assert.notEqual(wrongTarget.status, 0, 'the initiator refuses a target that cannot prove its secret');
    const wrong = await run('iscsi-inq', [withUser('alice%not-the-secret')]);
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.stderr + wrong.stdout, /Authentication failure|auth/i);
    const none = await run('iscsi-inq', [url]);
    assert.notEqual(none.status, 0);
    await ok('qemu-io', ['-f', 'raw', '-c', 'read 0 4k', withUser('alice%alice-secret-12')]);
  });

  test('a config file with two targets, an ACL and a shared image', async () => {
    const cfg = path.join(dir, 'targets.json');
    fs.writeFileSync(
      cfg,
      JSON.stringify({
        portals: ['127.0.0.1:0'],
        targets: [
          { name: `${IQN}-a`, alias: 'first', luns: [{ lun: 0, image: raw }] },
          {
            name: `${IQN}-b`,
            tpgt: 2,
            luns: [{ lun: 3, image: raw }],
            allow: ['iqn.2026-11.io.vdisk.test:nobody'],
          },
        ],
      }),
    );
    const srv = await startServer(['--config', cfg], 2);
    assert.match(srv.urls[0]!, /-a\/0$/);
    assert.match(srv.urls[1]!, /-b\/3$/);
    await ok('iscsi-inq', [srv.urls[0]!]);
    const denied = await run('iscsi-inq', [srv.urls[1]!]);
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr + denied.stdout, /Authorization failure|authoriz/i);
    srv.proc.kill('SIGINT');
    assert.equal(await srv.exited, 0, srv.stderr());
  });

  test('bad arguments: one line on stderr, exit 1', async () => {
    const cases: [string[], RegExp][] = [
      [['--lun', `0=${raw}`], /--target/],
      [['--target', 'not-an-iqn', '--lun', `0=${raw}`], /not an iSCSI name/],
      [['--target', IQN], /no LUN/],
      [['--target', IQN, '--lun', `0=${raw}`, '--chap', 'alice:short'], /at least 12/],
      [['--target', IQN, '--lun', `0=${raw}`, '--lun', `0=${raw}`], /LUN 0 is given twice/],
      [['--target', IQN, '--lun', `x=${raw}`], /invalid LUN/],
      [['--target', IQN, '--lun', `0=${raw},cache=fast`], /cache mode/],
      [['--target', IQN, '--lun', `0=${raw},bogus=1`], /unknown option/],
      [['--target', IQN, '--lun', `0=${raw}`, '--portal', 'nope:99999'], /invalid portal/],
      [['--target', IQN, '--lun', `0=${path.join(dir, 'missing.raw')}`], /missing\.raw/],
      [['--config', path.join(dir, 'missing.json')], /cannot read config/],
      [['--target', IQN, '--lun', `0=${raw}`, '--mutual-chap', 'tgt:target-secret-16'], /needs --chap/],
      [['--target', IQN, '--lun', `0=${raw}`, '--nop-interval', 'soon'], /invalid --nop-interval/],
      [['--target', IQN, '--lun', `0=${raw}`, '--nop-timeout', '0'], /more than 0/],
      [['--target', IQN, '--lun', `0=${raw}`, '--poll-max-ns', '-1'], /invalid --poll-max-ns/],
      [['--target', IQN, '--lun', `0=${raw}`, '--tcp-congestion', 'a b'], /invalid --tcp-congestion/],
      [
        ['--target', IQN, '--lun', `0=${raw}`, '--tcp-congestion', 'nosuchalgo'],
        /not available on this host/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = await run(
        process.execPath,
        [VDISK, 'iscsi', 'serve', '--portal', '127.0.0.1:0', ...args],
        20_000,
      );
      assert.equal(r.status, 1, describeRun(r));
      assert.match(r.stderr, re, describeRun(r));
      assert.equal(r.stderr.trim().split('\n').length, 1, describeRun(r));
    }
    const bare = await run(process.execPath, [VDISK, 'iscsi'], 20_000);
    assert.equal(bare.status, 1);
    assert.match(bare.stderr, /vdisk iscsi --help/);
  });
});
