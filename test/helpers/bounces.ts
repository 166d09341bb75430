/**
 * Counts the aligned bounce buffers that direct I/O takes from the native helper
 * (block/host-file.ts) while `fn` runs, in this process.
 */
import { native } from '../../src/block/index.js';

export async function countBounces(fn: () => Promise<void>): Promise<number> {
  const helper = native();
  const realAlloc = helper.allocAligned;
  let count = 0;
  helper.allocAligned = (size, align) => {
    count++;
    return realAlloc(size, align);
  };
  try {
    await fn();
  } finally {
    helper.allocAligned = realAlloc;
  }
  return count;
}
