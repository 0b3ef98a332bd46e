/** Remote commands to devices: stored when sent, completed by the device's result or by expiry. */
import type { Command, CommandResult, CommandType } from '@loalang/protocol';
import { newId } from '@loalang/protocol';
import type { Selectable } from 'kysely';
import type { Database } from '../store/database.js';
import type { CommandsTable } from '../store/schema.js';
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

type Row = Selectable<CommandsTable>;

const toRecord = (r: Row, now: number): CommandRecord => ({
  id: r.id,
  deviceId: r.device_id,
  type: r.type as CommandType,
  params: JSON.parse(r.params_json) as CommandRecord['params'],
  issuedBy: r.issued_by,
  issuedAt: r.issued_at,
  expiresAt: r.expires_at,
  // A command never answered reads as expired once its time is up.
  status: r.status === 'sent' && Date.parse(r.expires_at) <= now ? 'expired' : (r.status as CommandStatus),
  result: r.result_json ? (JSON.parse(r.result_json) as CommandResult) : null,
  completedAt: r.completed_at,
});

export class CommandRepo {
  constructor(
    private readonly db: Database,
    private readonly now: () => number,
  ) {}

  async create(input: { deviceId: string; type: CommandType; params: CommandRecord['params']; issuedBy: string | null; ttlMs: number }): Promise<{ record: CommandRecord; message: Command }> {
    const now = this.now();
    const id = newId();
    const expiresAt = iso(now + input.ttlMs);
    const row = await this.db
      .insertInto('commands')
      .values({ id, device_id: input.deviceId, type: input.type, params_json: JSON.stringify(input.params), issued_by: input.issuedBy, issued_at: iso(now), expires_at: expiresAt, status: 'sent' })
      .returningAll()
      .executeTakeFirstOrThrow();
    const message: Command = { v: 1, commandId: id, type: input.type, params: input.params, issuedAt: iso(now), expiresAt };
    return { record: toRecord(row, this.now()), message };
  }

  async get(id: string): Promise<CommandRecord | null> {
    const row = await this.db.selectFrom('commands').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row, this.now()) : null;
  }

  async listForDevice(deviceId: string, limit = 50): Promise<CommandRecord[]> {
    const rows = await this.db.selectFrom('commands').selectAll().where('device_id', '=', deviceId).orderBy('issued_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    const now = this.now();
    return rows.map((r) => toRecord(r, now));
  }

  /**
   * Records a device's answer; only the device the command went to can complete it, and only
   * once: the update is conditional on the command still being pending, so of two results
   * (a resent one, or two servers handling the same command) exactly one is accepted.
   */
  async complete(deviceId: string, result: CommandResult): Promise<boolean> {
    const { numUpdatedRows } = await this.db
      .updateTable('commands')
      .set({ status: result.ok ? 'succeeded' : 'failed', result_json: JSON.stringify(result), completed_at: iso(this.now()) })
      .where('id', '=', result.commandId)
      .where('device_id', '=', deviceId)
      .where('status', '=', 'sent')
      .executeTakeFirst();
    return numUpdatedRows > 0n;
  }
}
