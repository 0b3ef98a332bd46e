/**
 * The server's database (issue 16): SQLite under `--data` by default, PostgreSQL when
 * `LOALANG_DATABASE_URL` names one. Either way the repositories see one `Kysely<Schema>` and
 * write one set of queries; the schema is brought up to date on open.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig, type SqliteDatabase as KyselySqlite, type SqliteStatement } from 'kysely';
import pg from 'pg';
import { openSqlite, type Logger, type SqliteDatabase } from '@loalang/protocol';
import { BackgroundCheckpoints } from './background-checkpoints.js';
import { migratePostgres, migrateSqlite, type Dialect } from './migrate.js';
import type { Schema } from './schema.js';

export type { Dialect } from './migrate.js';
export type Database = Kysely<Schema>;

export interface Store {
  readonly db: Database;
  readonly dialect: Dialect;
  /** Where it is, without a password: for logs and `loalang db`. */
  readonly location: string;
  close(): Promise<void>;
}

export interface StoreLocation {
  /** `postgres://…` or `postgresql://…`; absent: the SQLite file. */
  url?: string;
  /** The SQLite file (`:memory:` for a throwaway one). */
  file: string;
}

// BIGINT and NUMERIC come back from pg as strings; every one of ours fits a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

export function isPostgresUrl(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//i.test(url);
}

/** The URL with its password masked. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/**
 * Kysely's SQLite driver guards its one connection with a mutex whose waiters all wake at each
 * release (they await one promise; all but one then wait again), so n queries queued at once
 * cost n² wake-ups: a committed batch of 500 reports, each then fed to the alarm rules and the
 * alert board, made every one of those queries cost most of a millisecond. This driver queues
 * the callers in front of that mutex and hands the connection to one at a time, in order, so
 * the mutex itself never has a waiter.
 */
class QueuedSqliteDriver extends SqliteDriver {
  private readonly waiting: (() => void)[] = [];
  private head = 0;
  private held = false;

  override async acquireConnection(): Promise<DatabaseConnection> {
    if (this.held) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.held = true;
    return super.acquireConnection();
  }

  override async releaseConnection(): Promise<void> {
    await super.releaseConnection();
    const next = this.waiting[this.head];
    if (!next) {
      this.held = false;
      this.waiting.length = 0;
      this.head = 0;
      return;
    }
    // Handed over: `held` stays true, so no newcomer slips in ahead of the queue.
    this.waiting[this.head++] = undefined as never;
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    next();
  }
}

class QueuedSqliteDialect extends SqliteDialect {
  constructor(private readonly config: SqliteDialectConfig) {
    super(config);
  }

  override createDriver(): Driver {
    return new QueuedSqliteDriver(this.config);
  }
}

/** Prepared statements kept per connection (least recently used dropped first). */
const STATEMENT_CACHE = 256;

/**
 * The connection as Kysely sees it, with its statements kept prepared by SQL text: Kysely
 * prepares every query anew, which cost about as much as running one of our small queries.
 * The SQL text is the key (parameters are bound at each run), and SQLite prepares a kept
 * statement again by itself when the schema changed under it.
 */
function keepingStatements(raw: SqliteDatabase): KyselySqlite {
  const kept = new Map<string, SqliteStatement>();
  return {
    close: () => raw.close(),
    prepare(text: string): SqliteStatement {
      let statement = kept.get(text);
      if (statement) kept.delete(text);
      else statement = raw.prepare(text) as SqliteStatement;
      kept.set(text, statement);
      if (kept.size > STATEMENT_CACHE) kept.delete(kept.keys().next().value!);
      return statement;
    },
  };
}

export function sqliteKysely(raw: SqliteDatabase): Database {
  return new Kysely<Schema>({ dialect: new QueuedSqliteDialect({ database: keepingStatements(raw) }) });
}

export function openSqliteFile(file: string): SqliteDatabase {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const raw = openSqlite(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  return raw;
}

export function postgresKysely(url: string, poolSize = 10): Database {
  // Connections stay open once made (idleTimeoutMillis 0; pg's default closes them after 10 s
  // idle): a new one costs a backend process, its login and cold catalogue caches, and those
  // first queries took 20–400 ms where a warm connection answers in 1 ms, the device list's p99
  // on PostgreSQL (bench/device-list.mjs). A connection the server drops is replaced when needed.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5000, idleTimeoutMillis: 0 });
  // An idle client that loses its server (a restart) emits 'error'; the pool drops it and makes a new one.
  pool.on('error', () => {});
  return new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
}

/** Connection-level failures (codes from Node, PostgreSQL's SQLSTATE classes 08 and 57P, SQLite's busy and I/O). */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', '57P01', '57P02', '57P03', '53300', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_FULL']);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed|Cannot use a pool after calling end/i;

/**
 * Whether an error means the database is away (restarting, unreachable, overloaded) rather than
 * that the request was wrong: the API answers 503 and devices' reports wait in their outboxes.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('SQLITE_IOERR')) return true;
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
    if (err instanceof AggregateError && err.errors.some(isDatabaseUnavailable)) return true;
  }
  return false;
}

/**
 * Opens the database and applies pending migrations. `backgroundCheckpoints`: a SQLite file's
 * log is checkpointed from a worker thread (the server; see background-checkpoints.ts).
 */
export async function openStore(where: StoreLocation, options: { migrate?: boolean; backgroundCheckpoints?: { logger: Logger } } = {}): Promise<Store> {
  const migrate = options.migrate ?? true;
  if (where.url !== undefined && where.url !== '') {
    if (!isPostgresUrl(where.url)) throw new Error(`LOALANG_DATABASE_URL must start with postgres:// (got ${redactUrl(where.url)})`);
    const db = postgresKysely(where.url);
    try {
      if (migrate) await migratePostgres(db);
    } catch (err) {
      await db.destroy();
      throw err;
    }
    return { db, dialect: 'postgres', location: redactUrl(where.url), close: () => db.destroy() };
  }
  const raw = openSqliteFile(where.file);
  if (migrate) migrateSqlite(raw);
  const db = sqliteKysely(raw);
  const checkpoints = options.backgroundCheckpoints && where.file !== ':memory:' ? BackgroundCheckpoints.start(raw, where.file, options.backgroundCheckpoints.logger) : null;
  return {
    db,
    dialect: 'sqlite',
    location: where.file,
    close: async () => {
      await checkpoints?.stop();
      await db.destroy();
    },
  };
}
