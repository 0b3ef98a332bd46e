/** Small helpers shared by the commands. */
export function intOption(value: unknown, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`--${name} must be a whole number ≥ 0 / --${name} phải là số nguyên ≥ 0 (got ${String(value)})`);
  }
  return n;
}

/** Resolves on SIGINT or SIGTERM, so a command can stop its parts cleanly. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const done = (signal: NodeJS.Signals) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
