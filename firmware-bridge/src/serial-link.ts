/**
 * The byte pipe to the board, as an interface of its own: a real serial port (or pty) and
 * an in-memory pair for in-process simulation implement it.
 */
import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';

export interface SerialLink {
  open(): Promise<void>;
  write(bytes: Buffer): Promise<void>;
  close(): Promise<void>;
  readonly isOpen: boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  off(event: 'data', listener: (chunk: Buffer) => void): this;
}

/** One end of an in-memory pair; what one end writes the other receives, asynchronously. */
class MemoryLink extends EventEmitter implements SerialLink {
  peer: MemoryLink | null = null;
  isOpen = false;

  async open(): Promise<void> {
    this.isOpen = true;
  }

  async write(bytes: Buffer): Promise<void> {
    if (!this.isOpen) throw new Error('link closed');
    const peer = this.peer;
    const copy = Buffer.from(bytes);
    setImmediate(() => {
      if (peer?.isOpen) peer.emit('data', copy);
    });
  }

  async close(): Promise<void> {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.emit('close');
  }
}

export function createLinkPair(): [SerialLink, SerialLink] {
  const a = new MemoryLink();
  const b = new MemoryLink();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** A real serial port or pseudo-terminal through the `serialport` package. */
export class NodeSerialLink extends EventEmitter implements SerialLink {
  private port: SerialPort | null = null;

  constructor(
    readonly path: string,
    readonly baudRate: number,
  ) {
    super();
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false });
      port.open((err) => {
        if (err) return reject(err);
        this.port = port;
        port.on('data', (chunk: Buffer) => this.emit('data', chunk));
        port.on('error', (e: Error) => this.emit('error', e));
        port.on('close', () => {
          this.port = null;
          this.emit('close');
        });
        resolve();
      });
    });
  }

  write(bytes: Buffer): Promise<void> {
    const port = this.port;
    if (!port) return Promise.reject(new Error('port closed'));
    return new Promise((resolve, reject) => port.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  close(): Promise<void> {
    const port = this.port;
    if (!port?.isOpen) return Promise.resolve();
    return new Promise((resolve) => port.close(() => resolve()));
  }
}
