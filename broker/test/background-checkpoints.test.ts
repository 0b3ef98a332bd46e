/**
 * The server's SQLite log is checkpointed from a worker thread (issue 16): rows committed on the
 * main connection reach the database file without the main connection checkpointing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@loalang/protocol';
import { untilWithin } from '@loalang/test-kit';
import { BACKSTOP_PAGES, BackgroundCheckpoints } from '../src/store/background-checkpoints.js';
import { openSqliteFile } from '../src/store/database.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fill(file: string) {
  const raw = openSqliteFile(file);
  raw.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const insert = raw.prepare('INSERT INTO t (body) VALUES (?)');
  raw.transaction(() => {
    for (let i = 0; i < 2000; i++) insert.run('x'.repeat(500));
  })();
  return raw;
}

describe('background checkpoints', () => {
  it('copy committed pages into the database file from another thread, and stop cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loalang-ckpt-'));
    dirs.push(dir);
    const file = join(dir, 'db.sqlite');
    const raw = fill(file);
    raw.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`); // as the server's, so the main connection does not
    const before = statSync(file).size;
    const checkpoints = BackgroundCheckpoints.start(raw, file, silentLogger, 20);
    try {
      expect(raw.pragma('wal_autocheckpoint', { simple: true })).toBe(BACKSTOP_PAGES);
      await untilWithin({ timeoutMs: 5000, intervalMs: 20 })('the file holds the rows', () => statSync(file).size > before + 500 * 1000);
      // The log is now wholly in the file: the next commit starts it again from its beginning.
      raw.prepare('INSERT INTO t (body) VALUES (?)').run('y');
      const [{ log, checkpointed }] = raw.pragma('wal_checkpoint(PASSIVE)') as [{ log: number; checkpointed: number }];
      expect(log).toBeLessThan(10);
      expect(checkpointed).toBe(log);
    } finally {
      await checkpoints.stop();
      raw.close();
    }
  });

  it('the control: with nothing checkpointing, the rows stay in the log', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loalang-ckpt-'));
    dirs.push(dir);
    const file = join(dir, 'db.sqlite');
    const raw = fill(file);
    try {
      raw.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
      expect(statSync(file).size).toBeLessThan(500 * 1000);
    } finally {
      raw.close();
    }
  });
});
