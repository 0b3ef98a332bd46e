/**
 * Checkpoints of the server's SQLite write-ahead log, in a worker thread (issue 16).
 *
 * A commit in WAL mode appends the changed pages to the log; a checkpoint later copies them into
 * the database file and syncs it. By default the committing connection does that itself, once
 * the log passes 1,000 pages: on the server that is the event loop's thread, which also runs the
 * MQTT broker, so every few batches of reports the loop stopped for a copy and an fsync (half of
 * the time spent storing a crowd of reports, bench/report-ingest-fleet.mjs). SQLite's advice for
 * this is to turn the automatic checkpoints down and run them from another thread: here a second
 * connection in a worker thread runs `PRAGMA wal_checkpoint(PASSIVE)` every CHECKPOINT_INTERVAL_MS.
 * A passive checkpoint never waits for, nor holds up, the writer or readers. Once it has copied
 * the whole log, the writer starts the log again from its beginning.
 *
 * The main connection keeps an automatic checkpoint at BACKSTOP_PAGES: it never comes into play
 * while the worker keeps up, and bounds the log if the worker falls behind or is gone (a worker
 * that stops is logged, and the main connection goes back to SQLite's default).
 */
import { Worker } from 'node:worker_threads';
import { sqliteDriver, type Logger, type SqliteDatabase } from '@loalang/protocol';

/** How often the worker checkpoints (ms): the log then holds a fraction of a second of writes. */
export const CHECKPOINT_INTERVAL_MS = 200;
/** The main connection's own automatic checkpoint while the worker runs (pages of 4 KiB: 64 MiB). */
export const BACKSTOP_PAGES = 16_384;
/** SQLite's default, for the main connection once the worker is gone. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

// The worker is plain CommonJS in a string: it needs only the SQLite binding the server uses,
// and runs the same from the built server and from the TypeScript sources under test.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driverPath);
const db = new Database(workerData.file);
let failures = 0;
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    failures = 0;
  } catch (err) {
    if (failures++ === 0) parentPort.postMessage({ error: String((err && err.message) || err) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export class BackgroundCheckpoints {
  private stopping = false;
  private exited = false;

  private constructor(
    private readonly worker: Worker,
    raw: SqliteDatabase,
    logger: Logger,
  ) {
    worker.on('message', (m: { error?: string }) => {
      if (m.error) logger.warn({ err: m.error }, 'SQLite background checkpoint failed; the server checkpoints by itself past the backstop');
    });
    worker.on('error', (err) => logger.error({ err }, 'SQLite checkpoint thread failed'));
    worker.on('exit', () => {
      this.exited = true;
      if (this.stopping || !raw.open) return;
      logger.error({}, 'SQLite checkpoint thread stopped: the server checkpoints its log by itself again');
      raw.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    });
    worker.unref();
  }

  /** Starts checkpointing `file` (the file `raw` has open, in WAL mode) from a worker thread. */
  static start(raw: SqliteDatabase, file: string, logger: Logger, intervalMs = CHECKPOINT_INTERVAL_MS): BackgroundCheckpoints {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driverPath: sqliteDriver().path, file, intervalMs } });
    raw.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    return new BackgroundCheckpoints(worker, raw, logger);
  }

  /** Checkpoints once more and ends the thread (before the main connection closes). */
  async stop(): Promise<void> {
    if (this.stopping || this.exited) return;
    this.stopping = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    // Held again while it finishes: an unreferenced worker alone does not keep the process
    // running, and a script awaiting this stop would end with its await unsettled (exit code 13).
    this.worker.ref();
    this.worker.postMessage('stop');
    await exited;
  }
}
