/**
 * What scripts/setup.sh promises is really there. Tests that need an external peer skip when it
 * is missing (with the reason); this test makes sure that on a machine set up by setup.sh, as CI's
 * is, none of them can pass by skipping: every command setup.sh checks for must be on PATH, and
 * QEMU's iscsi driver must be installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { onPath, qemuIscsiDriver } from './helpers/tools.js';

const SETUP = fs.readFileSync('scripts/setup.sh', 'utf8');

test('every tool scripts/setup.sh installs is installed (run bash scripts/setup.sh)', () => {
  const promised = [...SETUP.matchAll(/^command -v (\S+) .*\|\| need\+=\((\S+)\)/gm)].map((m) => ({
    cmd: m[1]!,
    pkg: m[2]!,
  }));
  assert.ok(promised.length >= 10, `setup.sh checks ${promised.length} commands`);
  for (const tool of [
    'qemu-img',
    'qemu-io',
    'qemu-nbd',
    'nbdinfo',
    'nbdcopy',
    'fio',
    'iscsi-inq',
    'iscsi-ls',
    'iscsi-perf',
    'cc',
  ]) {
    promised.push({ cmd: tool, pkg: 'a package setup.sh installs' });
  }
  const missing = promised.filter((p) => !onPath(p.cmd)).map((p) => `${p.cmd} (${p.pkg})`);
  assert.deepEqual(missing, [], 'missing after setup.sh');
  assert.match(SETUP, /block-iscsi\.so.*qemu-block-extra/);
  assert.ok(qemuIscsiDriver(), "QEMU's iscsi driver (qemu-block-extra) is not installed");
});
