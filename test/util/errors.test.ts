/** Typed errors: the system-error mapping that every layer relies on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BLOCK_ERROR_CODES, BlockError, fromSystemError, isBlockError } from '../../src/util/index.js';

function sysErr(code: string): Error {
  return Object.assign(new Error(`${code}: something`), { code });
}

test('fromSystemError maps errno names onto block error codes and keeps the cause', () => {
  const map: Array<[string, string]> = [
    ['ENOSPC', 'NO_SPACE'],
    ['EDQUOT', 'NO_SPACE'],
    ['ENOENT', 'NOT_FOUND'],
    ['EROFS', 'READ_ONLY'],
    ['EACCES', 'READ_ONLY'],
    ['EPERM', 'READ_ONLY'],
    ['EOPNOTSUPP', 'NOT_SUPPORTED'],
    ['ENOTSUP', 'NOT_SUPPORTED'],
    ['EINVAL', 'INVALID'],
    ['EIO', 'IO'],
    ['EBADF', 'IO'],
  ];
  for (const [errno, code] of map) {
    const cause = sysErr(errno);
    const err = fromSystemError(cause, 'write to disk.raw failed');
    assert.equal(err.code, code, errno);
    assert.equal(err.cause, cause);
    assert.match(err.message, new RegExp(`^write to disk\\.raw failed: ${errno}`));
    assert.ok(BLOCK_ERROR_CODES.includes(err.code));
  }
});

test('fromSystemError passes a BlockError through and copes with non-errors', () => {
  const original = new BlockError('CORRUPT', 'bad L2 entry');
  assert.equal(fromSystemError(original, 'ctx'), original);
  const fromString = fromSystemError('boom', 'ctx');
  assert.equal(fromString.code, 'IO');
  assert.match(fromString.message, /ctx: boom/);
  assert.equal(fromSystemError(null, 'ctx').code, 'IO');
});

test('isBlockError checks the class and, when given, the code', () => {
  const err = new BlockError('LOCKED', 'held');
  assert.equal(err.name, 'BlockError');
  assert.equal(isBlockError(err), true);
  assert.equal(isBlockError(err, 'LOCKED'), true);
  assert.equal(isBlockError(err, 'IO'), false);
  assert.equal(isBlockError(Object.assign(new Error('x'), { code: 'LOCKED' }), 'LOCKED'), false);
});
