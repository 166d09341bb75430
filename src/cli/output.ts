/**
 * Where the CLI's words go. Results go to stdout; every error is one line `vdisk: message` on
 * stderr (a multi-line message is folded into one line so that scripts can rely on it).
 * Stack traces are never printed: an error the user can act on says what to do, and anything
 * else is still one line naming what failed.
 */

export function print(text: string): void {
  process.stdout.write(text);
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

export function printError(message: string): void {
  process.stderr.write(`vdisk: ${oneLine(message)}\n`);
}

/** JSON as qemu-img prints it: four-space indentation and a final newline. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 4) + '\n');
}
