/**
 * The agent's own SQLite file (`cacheDir/agent.db`, WAL): the desired state it plays from,
 * the report outbox, the content cache index and which plays already ran. All of it
 * survives a restart or a power cut, so a box that reboots offline still plays.
 *
 * A write the disk cannot take (full, failing, read-only: issue 19) never throws at the agent:
 * it is reported to `onWriteFailure`, the agent goes on with what it holds in memory (the
 * programme plays, reports are kept and sent), and a writer that must know says so (addReport).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite, type DesiredState, type PlayReport, type ServerKey, type SqliteDatabase } from '@loalang/protocol';

const MIGRATIONS = [
  `CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE outbox (report_id TEXT PRIMARY KEY, payload TEXT NOT NULL, created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE cache (content_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, last_used INTEGER NOT NULL);
   CREATE TABLE plays_done (play_id TEXT PRIMARY KEY, at INTEGER NOT NULL);`,
];

export interface CacheEntry {
  contentId: string;
  sha256: string;
  path: string;
  size: number;
  lastUsed: number;
}

/** SQLite's result codes for a disk that cannot take a write; anything else is a bug and is thrown. */
const STORAGE_CODES = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB)/;

export type WriteFailure = (what: string, err: Error & { code?: string }) => void;

export class AgentStore {
  private constructor(
    private readonly db: SqliteDatabase,
    private readonly onWriteFailure: WriteFailure,
  ) {}

  /** The last write the disk refused since one succeeded, or null. */
  private failing: { what: string; code: string } | null = null;

  static open(cacheDir: string, onWriteFailure: WriteFailure = () => undefined): AgentStore {
    mkdirSync(cacheDir, { recursive: true });
    const db = openSqlite(join(cacheDir, 'agent.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL'); // a power cut must not lose an acknowledged state or a report
    const version = db.pragma('user_version', { simple: true }) as number;
    MIGRATIONS.slice(version).forEach((sql, i) => {
      db.transaction(() => {
        db.exec(sql);
        db.pragma(`user_version = ${version + i + 1}`);
      })();
    });
    return new AgentStore(db, onWriteFailure);
  }

  /** Whether the last write failed (and what it was), until one succeeds. */
  writeFailure(): { what: string; code: string } | null {
    return this.failing;
  }

  /** Runs a write; one the disk refuses is reported and gives `fallback`. */
  private write<T>(what: string, fn: () => T, fallback: T): T {
    try {
      const result = fn();
      this.failing = null;
      return result;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'string' || !STORAGE_CODES.test(code)) throw err;
      this.failing = { what, code };
      this.onWriteFailure(what, err as Error & { code: string });
      return fallback;
    }
  }

  close(): void {
    this.db.close();
  }

  private get(key: string): string | null {
    return (this.db.prepare('SELECT value FROM kv WHERE key = ?').get(key) as { value: string } | undefined)?.value ?? null;
  }

  private set(key: string, value: string): void {
    this.write(key, () => this.db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value), undefined);
  }

  desiredState(): DesiredState | null {
    const v = this.get('desired');
    return v ? (JSON.parse(v) as DesiredState) : null;
  }

  saveDesiredState(state: DesiredState): void {
    this.set('desired', JSON.stringify(state));
  }

  /**
   * The server keys this box trusts: those it learned from a signed desired state, as long as
   * the config still pins the keys it pinned when they were learned; else the config's.
   */
  trustedKeys(pinned: ServerKey[]): ServerKey[] {
    const pinnedNow = JSON.stringify(pinned);
    const learned = this.get('server-keys');
    if (learned && this.get('server-keys-pinned') === pinnedNow) return JSON.parse(learned) as ServerKey[];
    return pinned;
  }

  saveTrustedKeys(keys: ServerKey[], pinned: ServerKey[]): void {
    const upsert = this.db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.write(
      'server-keys',
      this.db.transaction(() => {
        upsert.run('server-keys', JSON.stringify(keys));
        upsert.run('server-keys-pinned', JSON.stringify(pinned));
      }),
      undefined,
    );
  }

  /** Downlinks taken and not yet expired, as [sequence, expiry] (the replay check). */
  seenDownlinks(): [number, number][] {
    const v = this.get('downlinks-seen');
    return v ? (JSON.parse(v) as [number, number][]) : [];
  }

  saveSeenDownlinks(seen: [number, number][]): void {
    this.set('downlinks-seen', JSON.stringify(seen));
  }

  volume(fallback: number): number {
    const v = this.get('volume');
    return v === null ? fallback : Number(v);
  }

  saveVolume(volume: number): void {
    this.set('volume', String(volume));
  }

  /** False when the disk refused it: the caller keeps the report in memory. */
  addReport(report: PlayReport, now: number): boolean {
    return this.write(
      'report',
      () => {
        this.db.transaction(() => {
          this.db.prepare('INSERT OR IGNORE INTO outbox (report_id, payload, created_at) VALUES (?, ?, ?)').run(report.reportId, JSON.stringify(report), now);
          this.db.prepare('INSERT OR IGNORE INTO plays_done (play_id, at) VALUES (?, ?)').run(report.playId, now);
        })();
        return true;
      },
      false,
    );
  }

  pendingReports(): PlayReport[] {
    const rows = this.db.prepare('SELECT payload FROM outbox ORDER BY created_at').all() as { payload: string }[];
    return rows.map((r) => JSON.parse(r.payload) as PlayReport);
  }

  /** Counts one more sending of each report (one commit). */
  markAttempts(reportIds: readonly string[]): void {
    const mark = this.db.prepare('UPDATE outbox SET attempts = attempts + 1 WHERE report_id = ?');
    this.write(
      'report attempts',
      this.db.transaction(() => {
        for (const id of reportIds) mark.run(id);
      }),
      undefined,
    );
  }

  /** Drops acknowledged reports from the outbox (one commit); the ids that were there. */
  removeReports(reportIds: readonly string[]): string[] {
    const remove = this.db.prepare('DELETE FROM outbox WHERE report_id = ?');
    return this.write('acknowledged reports', this.db.transaction(() => reportIds.filter((id) => remove.run(id).changes > 0)), []);
  }

  outboxSize(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
  }

  isPlayDone(playId: string): boolean {
    return this.db.prepare('SELECT 1 FROM plays_done WHERE play_id = ?').get(playId) !== undefined;
  }

  /** Forgets plays older than the horizon, so the table stays small. */
  prunePlaysDone(before: number): void {
    this.write('plays done', () => this.db.prepare('DELETE FROM plays_done WHERE at < ?').run(before), undefined);
  }

  cacheEntry(contentId: string): CacheEntry | null {
    const r = this.db.prepare('SELECT * FROM cache WHERE content_id = ?').get(contentId) as
      | { content_id: string; sha256: string; path: string; size: number; last_used: number }
      | undefined;
    return r ? { contentId: r.content_id, sha256: r.sha256, path: r.path, size: r.size, lastUsed: r.last_used } : null;
  }

  cacheEntries(): CacheEntry[] {
    const rows = this.db.prepare('SELECT * FROM cache ORDER BY last_used').all() as { content_id: string; sha256: string; path: string; size: number; last_used: number }[];
    return rows.map((r) => ({ contentId: r.content_id, sha256: r.sha256, path: r.path, size: r.size, lastUsed: r.last_used }));
  }

  putCacheEntry(e: CacheEntry): void {
    const upsert = this.db.prepare(
      `INSERT INTO cache (content_id, sha256, path, size, last_used) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(content_id) DO UPDATE SET sha256 = excluded.sha256, path = excluded.path, size = excluded.size, last_used = excluded.last_used`,
    );
    this.write('cache index', () => upsert.run(e.contentId, e.sha256, e.path, e.size, e.lastUsed), undefined);
  }

  touchCacheEntry(contentId: string, now: number): void {
    this.write('cache index', () => this.db.prepare('UPDATE cache SET last_used = ? WHERE content_id = ?').run(now, contentId), undefined);
  }

  removeCacheEntry(contentId: string): void {
    this.write('cache index', () => this.db.prepare('DELETE FROM cache WHERE content_id = ?').run(contentId), undefined);
  }
}
