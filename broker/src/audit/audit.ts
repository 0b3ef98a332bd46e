/**
 * The append-only audit log (table `audit_log`; SQLite triggers refuse UPDATE and DELETE):
 * who did what, when, from where, and with what outcome. Secrets never reach it.
 */
import type { Db } from '../store/db.js';

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
}

export type NewAuditEntry = Omit<AuditEntry, 'id'>;

type Row = { id: number; at: string; user_id: string | null; username: string | null; area_id: string | null; source: string | null; action: string; target: string | null; status: number | null; detail_json: string | null };

const SECRET_KEYS = /pass(word)?|secret|token|key|authorization/i;
const MAX_DETAIL_CHARS = 4000;

/** A copy with secrets masked and long strings (inline audio, CAP XML) cut, small enough to keep. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.length > 500 ? `${value.slice(0, 500)}… (${value.length} chars)` : value;
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1));
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, SECRET_KEYS.test(k) ? '***' : redact(v, depth + 1)]));
}

export class AuditRepo {
  constructor(private readonly db: Db) {}

  append(e: NewAuditEntry): void {
    let detail = e.detail === undefined ? null : JSON.stringify(redact(e.detail));
    if (detail && detail.length > MAX_DETAIL_CHARS) detail = JSON.stringify({ truncated: detail.slice(0, MAX_DETAIL_CHARS) });
    this.db
      .prepare('INSERT INTO audit_log (at, user_id, username, area_id, source, action, target, status, detail_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(e.at, e.userId, e.username, e.areaId, e.source, e.action, e.target, e.status, detail);
  }

  /** Newest first. `areaIds`: only entries of users acting in these areas (and anonymous ones, e.g. failed logins). */
  query(q: { from?: string; to?: string; userId?: string; action?: string; areaIds?: Set<string>; limit: number }): AuditEntry[] {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: q.limit };
    const add = (clause: string, name: string, value: unknown) => {
      where.push(clause);
      params[name] = value;
    };
    if (q.from) add('at >= @from', 'from', q.from);
    if (q.to) add('at < @to', 'to', q.to);
    if (q.userId) add('user_id = @userId', 'userId', q.userId);
    // A prefix match in which % and _ typed by the caller are taken literally.
    if (q.action) add("action LIKE @action ESCAPE '\\'", 'action', `${q.action.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    if (q.areaIds) add('(area_id IS NULL OR area_id IN (SELECT value FROM json_each(@areas)))', 'areas', JSON.stringify([...q.areaIds]));
    const rows = this.db.prepare(`SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT @limit`).all(params) as Row[];
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      userId: r.user_id,
      username: r.username,
      areaId: r.area_id,
      source: r.source,
      action: r.action,
      target: r.target,
      status: r.status,
      detail: r.detail_json ? (JSON.parse(r.detail_json) as unknown) : null,
    }));
  }
}
