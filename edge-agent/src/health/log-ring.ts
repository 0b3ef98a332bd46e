/** Keeps the agent's last log lines in memory, for the `logs` remote command. */
import { Writable } from 'node:stream';

export class LogRing extends Writable {
  private readonly buffer: string[] = [];
  private partial = '';

  constructor(private readonly capacity = 1000) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) if (line) this.buffer.push(line.slice(0, 4000));
    if (this.buffer.length > this.capacity) this.buffer.splice(0, this.buffer.length - this.capacity);
    done();
  }

  lines(): string[] {
    return [...this.buffer];
  }
}
