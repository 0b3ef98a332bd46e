/**
 * At most `max` tasks running at once; the others wait their turn, first come first served.
 * For work that arrives by the thousand at once (a reconnect storm's programme resends) and
 * would otherwise take every pooled database connection, leaving none for the logins and
 * presence of the same storm (issue 17).
 */
export class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {
    if (!(max >= 1)) throw new RangeError('a limiter lets at least one task run');
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Tasks running, and waiting to. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
