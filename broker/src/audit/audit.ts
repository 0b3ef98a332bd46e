/**
 * The append-only audit log (table `audit_log`; triggers refuse UPDATE and DELETE in both
 * dialects, and this repository only ever INSERTs and SELECTs):
 * who did what, when, from where, and with what outcome. Secrets never reach it.
 */
import { sql, type SqlBool } from 'kysely';
import type { Database } from '../store/database.js';
import { inList } from '../store/portable.js';

export interface AuditEntry {
  id: number;
  at: string;
  userId: string | null;
  username: string | null;
  /** The acting user's area, so an admin sees the entries of users in their subtree. */
  areaId: string | null;
  /** Source address of the request. */
  source: string | null;
  /** e.g. `POST /api/v1/alerts`, `login`, `login-failed`. */
  action: string;
  /** The id the action was about (route `:id`), when there is one. */
  target: string | null;
  status: number | null;
  detail: unknown;
  /** The server node that acted (issue 17): LOALANG_NODE_ID, or the host's name. */
  node: string | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'node'>;


const SECRET_KEYS = /pass(word)?|secret|token|key|authorization|ticket/i;
const MAX_DETAIL_CHARS = 4000;

/** A copy with secrets masked and long strings (inline audio, CAP XML) cut, small enough to keep. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > 500 ? `${value.slice(0, 500)}… (${value.length} chars)` : value;
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1));
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, SECRET_KEYS.test(k) ? '***' : redact(v, depth + 1)]));
}

export class AuditRepo {
  constructor(
    private readonly db: Database,
    /** Written with every entry: which node of a cluster acted. */
    private readonly nodeId: string | null = null,
  ) {}

  async append(e: NewAuditEntry): Promise<void> {
    let detail = e.detail === undefined ? null : JSON.stringify(redact(e.detail));
    if (detail && detail.length > MAX_DETAIL_CHARS) detail = JSON.stringify({ truncated: detail.slice(0, MAX_DETAIL_CHARS) });
    await this.db
      .insertInto('audit_log')
      .values({ at: e.at, user_id: e.userId, username: e.username, area_id: e.areaId, source: e.source, action: e.action, target: e.target, status: e.status, detail_json: detail, node_id: this.nodeId })
      .execute();
  }

  /** Newest first. `areaIds`: only entries of users acting in these areas (and anonymous ones, e.g. failed logins). */
  async query(q: { from?: string; to?: string; userId?: string; action?: string; areaIds?: Set<string>; limit: number }): Promise<AuditEntry[]> {
    let query = this.db.selectFrom('audit_log').selectAll();
    if (q.from) query = query.where('at', '>=', q.from);
    if (q.to) query = query.where('at', '<', q.to);
    if (q.userId) query = query.where('user_id', '=', q.userId);
    if (q.action) {
      // A prefix match in which % and _ typed by the caller are taken literally; case-insensitive
      // in both dialects, as SQLite's LIKE always was.
      const pattern = `${q.action.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query = query.where(sql<SqlBool>`lower(action) LIKE lower(${pattern}) ESCAPE '\\'`);
    }
    const areaIds = q.areaIds;
    if (areaIds) query = query.where((eb) => eb.or([eb('area_id', 'is', null), inList(this.db, 'area_id', areaIds)]));
    const rows = await query.orderBy('id', 'desc').limit(q.limit).execute();
    return rows.map((r) => ({
      id: Number(r.id),
      at: r.at,
      userId: r.user_id,
      username: r.username,
      areaId: r.area_id,
      source: r.source,
      action: r.action,
      target: r.target,
      status: r.status === null ? null : Number(r.status),
      detail: r.detail_json ? (JSON.parse(r.detail_json) as unknown) : null,
      node: r.node_id,
    }));
  }
}
