/** Keeps the end of a child process's stderr, for the one line that says why it failed. */
import type { Readable } from 'node:stream';

export function stderrTail(stream: Readable, maxChars = 2000): () => string | undefined {
  let text = '';
  stream.on('data', (c: Buffer) => {
    text = (text + c.toString('utf8')).slice(-maxChars);
  });
  return () => text.trim().split('\n').at(-1) || undefined;
}
