/**
 * What arrives in one turn of the event loop, handled together (at most `max` at a time): in a
 * reconnect storm thousands of speakers log in and come online within seconds, and one database
 * statement per batch, not per speaker, keeps the pool free (issue 17). Each item's promise
 * settles with its own result once its batch is handled, or with the batch's error.
 */
export class TurnBatch<I, O> {
  private queued: { item: I; resolve: (out: O) => void; reject: (err: unknown) => void }[] = [];
  private armed = false;

  constructor(
    /** Handles one batch: one result per item, in the items' order. */
    private readonly handle: (items: readonly I[]) => Promise<readonly O[]>,
    private readonly max: number,
  ) {
    if (!(max >= 1)) throw new RangeError('a batch holds at least one item');
  }

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      if (this.queued.length >= this.max) this.flush();
      else this.arm();
    });
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(() => {
      this.armed = false;
      this.flush();
    });
  }

  private flush(): void {
    const batch = this.queued.splice(0, this.max);
    if (this.queued.length > 0) this.arm();
    if (batch.length === 0) return;
    let handled: Promise<readonly O[]>;
    try {
      handled = this.handle(batch.map((q) => q.item));
    } catch (err) {
      handled = Promise.reject(err);
    }
    handled.then(
      (outs) => batch.forEach((q, i) => q.resolve(outs[i]!)),
      (err: unknown) => batch.forEach((q) => q.reject(err)),
    );
  }
}
