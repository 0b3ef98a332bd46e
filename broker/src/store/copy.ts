/**
 * Moving an install from SQLite to PostgreSQL (issue 16, `loalang db copy`): every table is
 * copied in an order that satisfies its foreign keys, in one PostgreSQL transaction, then each
 * table's row count and checksum are compared on both sides. A target that already holds rows
 * is refused: nothing there is ever overwritten or mixed. Content files stay where they are
 * (the database names them by id; the server finds them under --data).
 *
 * The checksum is order-independent (the sum of a hash of every row, as the databases may sort
 * text differently): rows are read back from PostgreSQL after the commit and hashed the same way
 * as the SQLite rows, so what was stored is what is compared.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { SqliteDatabase } from '@loalang/protocol';
import type { Database } from './database.js';

export interface TableCopy {
  table: string;
  rows: number;
  checksum: string;
}

export interface CopyResult {
  tables: TableCopy[];
}

export class CopyRefused extends Error {
  constructor(
    readonly en: string,
    readonly vi: string,
  ) {
    super(`${vi} / ${en}`);
  }
}

type Row = Record<string, unknown>;

const HASH_MOD = 1n << 128n;

/** A row's hash as a number: the values in column order, in one canonical text. */
function rowHash(columns: string[], row: Row): bigint {
  const text = JSON.stringify(columns.map((c) => (typeof row[c] === 'bigint' ? Number(row[c]) : (row[c] ?? null))));
  return BigInt(`0x${createHash('sha256').update(text).digest('hex').slice(0, 32)}`);
}

class Tally {
  rows = 0;
  private sum = 0n;
  constructor(private readonly columns: string[]) {}
  add(row: Row): void {
    this.rows++;
    this.sum = (this.sum + rowHash(this.columns, row)) % HASH_MOD;
  }
  get checksum(): string {
    return this.sum.toString(16).padStart(32, '0');
  }
}

interface TableInfo {
  name: string;
  columns: string[];
  /** Tables its foreign keys point to (other than itself). */
  parents: string[];
  /** A column referring to the same table (areas.parent_id): rows are written parents first. */
  selfParent: { from: string; to: string } | null;
}

function sqliteTables(source: SqliteDatabase): TableInfo[] {
  const names = (source.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  return names.map((name) => {
    const columns = (source.prepare(`PRAGMA table_info("${name}")`).all() as { name: string }[]).map((c) => c.name);
    const fks = source.prepare(`PRAGMA foreign_key_list("${name}")`).all() as { table: string; from: string; to: string }[];
    const self = fks.find((f) => f.table === name);
    return { name, columns, parents: [...new Set(fks.filter((f) => f.table !== name).map((f) => f.table))], selfParent: self ? { from: self.from, to: self.to } : null };
  });
}

/** Parents before children. */
function inForeignKeyOrder(tables: TableInfo[]): TableInfo[] {
  const byName = new Map(tables.map((t) => [t.name, t]));
  const done = new Set<string>();
  const order: TableInfo[] = [];
  const visit = (t: TableInfo, path: Set<string>) => {
    if (done.has(t.name)) return;
    if (path.has(t.name)) throw new Error(`foreign keys form a cycle through ${t.name}`);
    path.add(t.name);
    for (const p of t.parents) {
      const parent = byName.get(p);
      if (parent) visit(parent, path);
    }
    done.add(t.name);
    order.push(t);
  };
  for (const t of tables) visit(t, new Set());
  return order;
}

/** Rows of a self-referencing table with each row's parent before it. */
function parentsFirst(rows: Row[], self: { from: string; to: string }): Row[] {
  const byKey = new Map(rows.map((r) => [r[self.to], r]));
  const placed = new Set<unknown>();
  const out: Row[] = [];
  const place = (r: Row, depth: number) => {
    if (placed.has(r[self.to])) return;
    const parent = byKey.get(r[self.from]);
    if (parent && parent !== r && depth < 1000) place(parent, depth + 1);
    placed.add(r[self.to]);
    out.push(r);
  };
  for (const r of rows) place(r, 0);
  return out;
}

const BATCH_PARAMETERS = 30_000;

export interface CopyOptions {
  /** Told after each table. */
  progress?: (table: TableCopy) => void;
}

/**
 * Copies the (migrated) SQLite database into the (migrated, empty) PostgreSQL one and verifies
 * it. Throws CopyRefused when the target is not empty or a table does not match.
 */
export async function copySqliteToPostgres(source: SqliteDatabase, target: Database, options: CopyOptions = {}): Promise<CopyResult> {
  const tables = inForeignKeyOrder(sqliteTables(source));
  for (const t of tables) {
    const { rows } = await sql<{ one: number }>`SELECT 1 AS one FROM ${sql.table(t.name)} LIMIT 1`.execute(target);
    if (rows.length > 0) {
      throw new CopyRefused(
        `the target database is not empty (table ${t.name} has rows): copy only into a new, empty database`,
        `cơ sở dữ liệu đích không trống (bảng ${t.name} đã có dữ liệu): chỉ sao chép vào một cơ sở dữ liệu mới, trống`,
      );
    }
  }
  const expected = new Map<string, Tally>();
  await target.transaction().execute(async (trx) => {
    for (const t of tables) {
      const tally = new Tally(t.columns);
      expected.set(t.name, tally);
      const batchRows = Math.max(1, Math.floor(BATCH_PARAMETERS / t.columns.length));
      const write = async (batch: Row[]) => {
        if (batch.length === 0) return;
        const values = batch.map((r) => sql`(${sql.join(t.columns.map((c) => r[c] ?? null))})`);
        await sql`INSERT INTO ${sql.table(t.name)} (${sql.join(t.columns.map((c) => sql.id(c)))}) VALUES ${sql.join(values)}`.execute(trx);
      };
      const statement = source.prepare(`SELECT * FROM "${t.name}"`);
      if (t.selfParent) {
        const all = statement.all() as Row[];
        for (const r of all) tally.add(r);
        const ordered = parentsFirst(all, t.selfParent);
        for (let i = 0; i < ordered.length; i += batchRows) await write(ordered.slice(i, i + batchRows));
      } else {
        let batch: Row[] = [];
        for (const r of statement.iterate() as IterableIterator<Row>) {
          tally.add(r);
          batch.push(r);
          if (batch.length >= batchRows) {
            await write(batch);
            batch = [];
          }
        }
        await write(batch);
      }
    }
    // Identity columns continue after the copied ids.
    const { rows: identities } = await sql<{ table_name: string; column_name: string }>`
      SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'`.execute(trx);
    for (const { table_name, column_name } of identities) {
      await sql`SELECT setval(pg_get_serial_sequence(${table_name}, ${column_name}), COALESCE((SELECT max(${sql.id(column_name)}) FROM ${sql.table(table_name)}), 0) + 1, false)`.execute(trx);
    }
  });
  const result: TableCopy[] = [];
  for (const t of tables) {
    const stored = await postgresTally(target, t);
    const want = expected.get(t.name)!;
    if (stored.rows !== want.rows || stored.checksum !== want.checksum) {
      throw new CopyRefused(
        `table ${t.name} does not match after the copy: ${want.rows} rows (checksum ${want.checksum}) in SQLite, ${stored.rows} (${stored.checksum}) in PostgreSQL`,
        `bảng ${t.name} không khớp sau khi sao chép: ${want.rows} dòng (mã kiểm ${want.checksum}) trong SQLite, ${stored.rows} (${stored.checksum}) trong PostgreSQL`,
      );
    }
    const copied = { table: t.name, rows: want.rows, checksum: want.checksum };
    options.progress?.(copied);
    result.push(copied);
  }
  return { tables: result };
}

/** Count and checksum of a PostgreSQL table, read in pages along its physical order (ctid). */
async function postgresTally(db: Database, t: TableInfo): Promise<Tally> {
  const tally = new Tally(t.columns);
  let after = '(0,0)';
  for (;;) {
    const { rows } = await sql<Row & { _ctid: string }>`SELECT ctid::text AS _ctid, * FROM ${sql.table(t.name)} WHERE ctid > ${after}::tid ORDER BY ctid LIMIT 5000`.execute(db);
    for (const r of rows) tally.add(r);
    if (rows.length < 5000) return tally;
    after = rows[rows.length - 1]!._ctid;
  }
}
