/**
 * The lifecycle shared by the serving commands (`vdisk nbd serve`, `vdisk iscsi serve`):
 * wait for SIGINT or SIGTERM (a second one exits at once), then, once the servers have drained,
 * flush and close every image, reporting each failure as one line.
 */
import type { Image } from '../formats/index.js';
import { errorMessage, printError } from './output.js';

/** Flushes and closes every image (and empties the list); a failure gives exit code 1. */
export async function closeImages(images: Image[]): Promise<number> {
  let code = 0;
  for (const img of images.splice(0)) {
    try {
      await img.close();
    } catch (err) {
      printError(`closing ${img.filename}: ${errorMessage(err)}`);
      code = 1;
    }
  }
  return code;
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once with code 1. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const first = (): void => {
      process.off('SIGINT', first);
      process.off('SIGTERM', first);
      const again = (): void => {
        printError('second signal: exiting without draining');
        process.exit(1);
      };
      process.once('SIGINT', again);
      process.once('SIGTERM', again);
      resolve();
    };
    process.on('SIGINT', first);
    process.on('SIGTERM', first);
  });
}
