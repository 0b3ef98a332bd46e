/**
 * Runs tasks one after another per key (a device id), in the order they were queued, while
 * different keys run side by side. The database answers asynchronously (issue 16), so two
 * writes about one device could otherwise finish in the wrong order: an older programme
 * written over a newer one, a device's "offline" before its "online".
 */
export class KeyedSerial {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Queues `task` behind the key's earlier ones; settles as the task does. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
