/** Remote commands to devices: stored when sent, completed by the device's result or by expiry. */
import type { Command, CommandResult, CommandType } from '@loalang/protocol';
import { newId } from '@loalang/protocol';
import type { Db } from '../store/db.js';
import { iso } from '../time.js';

export type CommandStatus = 'sent' | 'succeeded' | 'failed' | 'expired';

export interface CommandRecord {
  id: string;
  deviceId: string;
  type: CommandType;
  params: Record<string, string | number | boolean>;
  issuedBy: string | null;
  issuedAt: string;
  expiresAt: string;
  status: CommandStatus;
  result: CommandResult | null;
  completedAt: string | null;
}

type Row = {
  id: string;
  device_id: string;
  type: CommandType;
  params_json: string;
  issued_by: string | null;
  issued_at: string;
  expires_at: string;
  status: CommandStatus;
  result_json: string | null;
  completed_at: string | null;
};

const toRecord = (r: Row, now: number): CommandRecord => ({
  id: r.id,
  deviceId: r.device_id,
  type: r.type,
  params: JSON.parse(r.params_json) as CommandRecord['params'],
  issuedBy: r.issued_by,
  issuedAt: r.issued_at,
  expiresAt: r.expires_at,
  // A command never answered reads as expired once its time is up.
  status: r.status === 'sent' && Date.parse(r.expires_at) <= now ? 'expired' : r.status,
  result: r.result_json ? (JSON.parse(r.result_json) as CommandResult) : null,
  completedAt: r.completed_at,
});

export class CommandRepo {
  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {}

  create(input: { deviceId: string; type: CommandType; params: CommandRecord['params']; issuedBy: string | null; ttlMs: number }): { record: CommandRecord; message: Command } {
    const now = this.now();
    const id = newId();
    const expiresAt = iso(now + input.ttlMs);
    this.db
      .prepare(`INSERT INTO commands (id, device_id, type, params_json, issued_by, issued_at, expires_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'sent')`)
      .run(id, input.deviceId, input.type, JSON.stringify(input.params), input.issuedBy, iso(now), expiresAt);
    const message: Command = { v: 1, commandId: id, type: input.type, params: input.params, issuedAt: iso(now), expiresAt };
    return { record: this.require(id), message };
  }

  get(id: string): CommandRecord | null {
    const row = this.db.prepare('SELECT * FROM commands WHERE id = ?').get(id) as Row | undefined;
    return row ? toRecord(row, this.now()) : null;
  }

  private require(id: string): CommandRecord {
    const rec = this.get(id);
    if (!rec) throw new Error(`command ${id} vanished`);
    return rec;
  }

  listForDevice(deviceId: string, limit = 50): CommandRecord[] {
    const rows = this.db.prepare('SELECT * FROM commands WHERE device_id = ? ORDER BY issued_at DESC LIMIT ?').all(deviceId, limit) as Row[];
    return rows.map((r) => toRecord(r, this.now()));
  }

  /** Records a device's answer; only the device the command went to can complete it. */
  complete(deviceId: string, result: CommandResult): boolean {
    const changed = this.db
      .prepare(`UPDATE commands SET status = ?, result_json = ?, completed_at = ? WHERE id = ? AND device_id = ? AND status = 'sent'`)
      .run(result.ok ? 'succeeded' : 'failed', JSON.stringify(result), iso(this.now()), result.commandId, deviceId).changes;
    return changed > 0;
  }
}
