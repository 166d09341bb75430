/**
 * Who may do what, through real initiators against `vdisk iscsi serve`:
 *
 * - CHAP through libiscsi URLs (iscsi://user%secret@...): one-way; mutual, with the target's
 *   name and secret in the URL's target_user/target_password; a login without credentials, with
 *   a wrong secret, or a target that answers mutual CHAP with the wrong secret fails with a
 *   message that says so (RFC 7143 login status 0201, "Authentication failure");
 * - readonly=1: QEMU refuses to open the LUN read-write ("write protected", from MODE SENSE),
 *   reads work, and libiscsi's ReadOnly test sees every write command end in DATA PROTECT /
 *   WRITE PROTECTED;
 * - two initiators (two qemu-io processes, each its own session and initiator name, logged in
 *   at the same time) on one LUN, each reading what the other wrote;
 * - iscsi-perf runs against the LUN and reports its IOPS.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { qemuImgOk } from '../helpers/qemu.js';
import { tmpDir } from '../helpers/tmp.js';
import {
  describeRun,
  iscsiImageOpts,
  QemuIoSession,
  run,
  serveVdiskIscsi,
  skipWithoutIscsiPeers,
} from '../helpers/iscsi.js';

const skip = await skipWithoutIscsiPeers(['iscsi-inq', 'iscsi-perf', 'iscsi-test-cu', 'qemu-img', 'qemu-io']);

describe('CHAP through libiscsi URLs', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-iscsi-chap-');
  const file = path.join(dir, 'disk.raw');
  qemuImgOk(['create', '-q', '-f', 'raw', file, '8M']);
  const chap = { user: 'alice', secret: 'alice-secret-1234' };
  const mutualChap = { user: 'vdisk-target', secret: 'target-secret-5678' };
  const t = await serveVdiskIscsi({ luns: [{ file, format: 'raw' }], chap, mutualChap });
  const inq = (url: string) => run('iscsi-inq', [url], 30_000);
  const withTarget = (url: string, secret: string): string =>
    `${url}?target_user=${mutualChap.user}&target_password=${secret}`;

  test('one-way CHAP: the right secret logs in, none or a wrong one is refused as an authentication failure', async () => {
    const good = await inq(t.url(0, 0, `${chap.user}%${chap.secret}`));
    assert.equal(good.status, 0, describeRun(good));
    assert.match(good.stdout, /Peripheral Device Type:DIRECT_ACCESS/);
    for (const auth of [undefined, `${chap.user}%wrong-secret-0000`, `mallory%${chap.secret}`]) {
      const bad = await inq(t.url(0, 0, auth));
      assert.notEqual(bad.status, 0, describeRun(bad));
      assert.match(bad.stdout + bad.stderr, /Login Failed.*Authentication failure/, describeRun(bad));
    }
  });

  test('mutual CHAP: the initiator checks the target too, and a wrong target secret fails the login', async () => {
    const url = t.url(0, 0, `${chap.user}%${chap.secret}`);
    const good = await inq(withTarget(url, mutualChap.secret));
    assert.equal(good.status, 0, describeRun(good));
    assert.match(good.stdout, /Peripheral Device Type:DIRECT_ACCESS/);
    const bad = await inq(withTarget(url, 'not-the-target-secret'));
    assert.notEqual(bad.status, 0, describeRun(bad));
    assert.match(bad.stdout + bad.stderr, /Invalid CHAP_R response from the target/, describeRun(bad));
  });

  test('qemu-img reads and writes through a CHAP URL', async () => {
    const url = t.url(0, 0, `${chap.user}%${chap.secret}`);
    const io = await run(
      'qemu-io',
      ['-f', 'raw', '-c', 'write -P 0x5c 0 64k', '-c', 'read -P 0x5c 0 64k', url],
      30_000,
    );
    assert.equal(io.status, 0, describeRun(io));
    assert.doesNotMatch(io.stdout, /failed|Pattern verification/);
  });
});

describe('readonly=1 LUN', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-iscsi-ro-');
  const file = path.join(dir, 'disk.qcow2');
  qemuImgOk(['create', '-q', '-f', 'qcow2', file, '8M']);
  const t = await serveVdiskIscsi({ luns: [{ file, format: 'qcow2', readonly: true }] });

  test('QEMU cannot open it read-write and reads it read-only', async () => {
    const rw = await run('qemu-io', ['-f', 'raw', '-c', 'write 0 4k', t.url(0)], 30_000);
    assert.notEqual(rw.status, 0, describeRun(rw));
    assert.match(rw.stderr, /write protected/i, describeRun(rw));
    const ro = await run('qemu-io', ['-r', '-f', 'raw', '-c', 'read -P 0 0 64k', t.url(0)], 30_000);
    assert.equal(ro.status, 0, describeRun(ro));
    assert.doesNotMatch(ro.stdout, /failed|Pattern verification/);
  });

  test('every write command ends in DATA PROTECT / WRITE PROTECTED (libiscsi ReadOnly test)', async () => {
    const r = await run('iscsi-test-cu', ['--dataloss', '-V', '-t', 'ALL.ReadOnly', t.url(0)], 60_000);
    assert.equal(r.status, 0, describeRun(r));
    assert.match(r.stdout, /Test: ReadOnlySBC \.\.\./);
    assert.doesNotMatch(r.stdout, /FAILED/, describeRun(r));
    for (const cmd of ['WRITE10', 'WRITE12', 'WRITE16', 'WRITESAME10', 'WRITESAME16', 'ORWRITE']) {
      assert.match(
        r.stdout,
        new RegExp(
          `\\[OK\\] ${cmd} returned CHECK_CONDITION DATA PROTECTION\\(0x07\\) WRITE_PROTECTED\\(0x2700\\)`,
        ),
        cmd,
      );
    }
  });
});

describe('two initiators on one LUN', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-iscsi-two-');
  const file = path.join(dir, 'shared.qcow2');
  qemuImgOk(['create', '-q', '-f', 'qcow2', file, '16M']);
  const t = await serveVdiskIscsi({ luns: [{ file, format: 'qcow2' }] });

  test('two sessions at once, each reads what the other wrote', async () => {
    const a = await QemuIoSession.open(iscsiImageOpts(t, 0, 'iqn.2026-11.org.vdisk.test:node-a'));
    const b = await QemuIoSession.open(iscsiImageOpts(t, 0, 'iqn.2026-11.org.vdisk.test:node-b'));
    const okCmd = async (s: QemuIoSession, cmd: string): Promise<void> => {
      const out = await s.cmd(cmd);
      assert.doesNotMatch(out, /failed|Pattern verification|error/i, `${cmd}: ${out}`);
      assert.match(out, /(wrote|read) \d+\/\d+ bytes/, `${cmd}: ${out}`);
    };
    for (let round = 0; round < 4; round++) {
      const offA = `${round * 2}M`;
      const offB = `${round * 2 + 1}M`;
      const pa = `0x${(0x10 + round).toString(16)}`;
      const pb = `0x${(0x80 + round).toString(16)}`;
      await okCmd(a, `write -P ${pa} ${offA} 1M`);
      await okCmd(b, `read -P ${pa} ${offA} 1M`);
      await okCmd(b, `write -P ${pb} ${offB} 1M`);
      await okCmd(a, `read -P ${pb} ${offB} 1M`);
      // Overwrites of the same blocks are seen too.
      await okCmd(b, `write -P ${pb} ${offA} 4k`);
      await okCmd(a, `read -P ${pb} ${offA} 4k`);
    }
    await a.close();
    await b.close();
  });
});

describe('iscsi-perf', { skip }, async () => {
  if (skip) return;
  const dir = tmpDir('vdisk-iscsi-perf-');
  const file = path.join(dir, 'disk.raw');
  qemuImgOk(['create', '-q', '-f', 'raw', file, '64M']);
  const t = await serveVdiskIscsi({ luns: [{ file, format: 'raw' }] });

  test('a short random-read run reports its IOPS', async () => {
    const r = await run('iscsi-perf', ['-m', '16', '-b', '8', '-r', '-t', '2', t.url(0)], 60_000);
    assert.equal(r.status, 0, describeRun(r));
    const m = /iops average (\d+) \((\d+) MB\/s\)/.exec(r.stdout.replace(/\r/g, '\n'));
    assert.ok(m, describeRun(r));
    assert.ok(Number(m[1]) > 100, `iops ${m[1]}`);
    assert.match(r.stdout, /capacity is 131072 blocks or 67108864 byte/);
  });
});
