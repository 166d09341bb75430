/**
 * Child process of the crash test: runs the op stream of crash-ops.ts against an image and prints
 * "FLUSHED <batches>" after each acknowledged flush. The parent kills it with SIGKILL at random.
 * Usage: node crash-child.js IMAGE SEED CLUSTER_SIZE
 */
import { openImage } from '../../src/formats/index.js';
import { crashBatches, FLUSH_EVERY, opData } from './crash-ops.js';

const [file, seedText, csText] = process.argv.slice(2);
const batches = crashBatches(Number(seedText), Number(csText));
const img = await openImage(file!);
process.stdout.write('READY\n');
for (let b = 0; b < batches.length; b++) {
  await Promise.all(
    batches[b]!.map((op) => {
      switch (op.kind) {
        case 'write':
          return img.write(op.off, opData(op));
        case 'zero':
          return img.writeZeroes(op.off, op.len, { mayUnmap: op.len % 2 === 0 });
        case 'discard':
          return img.discard(op.off, op.len);
      }
    }),
  );
  if ((b + 1) % FLUSH_EVERY === 0) {
    await img.flush();
    process.stdout.write(`FLUSHED ${b + 1}\n`);
  }
}
await img.close();
process.stdout.write('DONE\n');
