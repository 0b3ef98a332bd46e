// The benches' simulated fleets run in forked worker processes; this asks one of them to do
// something and waits for its answer (messages carry an id; a reply with `error` rejects).
let rpcId = 0;

/** Sends `msg` to the forked `worker`; resolves with its reply to this message. */
export function callWorker(worker, msg) {
  return new Promise((resolve, reject) => {
    const id = ++rpcId;
    const on = (m) => {
      if (m.id !== id) return;
      worker.off('message', on);
      if (m.error) reject(new Error(m.error));
      else resolve(m);
    };
    worker.on('message', on);
    worker.send({ ...msg, id });
  });
}
