/**
 * The `webhooks` table (migration 25): integrators' subscriptions. The secret is stored as given
 * (not hashed): the server signs each delivery with it, so it must read it back (docs/security.md).
 */
import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import { newId } from '@loalang/protocol';
import type { Database } from '../store/database.js';
import type { WebhooksTable } from '../store/schema.js';
import { brokerError } from '../errors.js';
import { iso } from '../time.js';
import { isWebhookEvent, type WebhookEventName } from './events.js';

export interface Webhook {
  id: string;
  name: string;
  description: string;
  url: string;
  events: WebhookEventName[];
  areaId: string;
  active: boolean;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A subscription with its signing secret: for the sender and for the answers of create and rotate only. */
export interface WebhookWithSecret extends Webhook {
  secret: string;
}

export interface NewWebhook {
  name: string;
  description?: string;
  url: string;
  events: WebhookEventName[];
  areaId: string;
  active?: boolean;
  createdBy: string | null;
}

export type WebhookPatch = Partial<Pick<Webhook, 'name' | 'description' | 'url' | 'events' | 'active'>>;

/** 32 random bytes, hex: `whsec_<64 hex>`. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('hex')}`;
}

function toWebhook(r: Selectable<WebhooksTable>): WebhookWithSecret {
  const events = (JSON.parse(r.events_json) as string[]).filter(isWebhookEvent);
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    url: r.url,
    events,
    areaId: r.area_id,
    active: Number(r.active) === 1,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    secret: r.secret,
  };
}

export function withoutSecret(w: WebhookWithSecret): Webhook {
  const { secret: _secret, ...rest } = w;
  return rest;
}

const notFound = (id: string) => brokerError('LOA_ERR_NOT_FOUND', { en: `webhook ${id}`, vi: `webhook ${id}` });

export class WebhookRepo {
  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {}

  async list(): Promise<WebhookWithSecret[]> {
    return (await this.db.selectFrom('webhooks').selectAll().orderBy('created_at').orderBy('id').execute()).map(toWebhook);
  }

  async listActive(): Promise<WebhookWithSecret[]> {
    return (await this.db.selectFrom('webhooks').selectAll().where('active', '=', 1).orderBy('id').execute()).map(toWebhook);
  }

  async get(id: string): Promise<WebhookWithSecret | null> {
    const row = await this.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toWebhook(row) : null;
  }

  async require(id: string): Promise<WebhookWithSecret> {
    const w = await this.get(id);
    if (!w) throw notFound(id);
    return w;
  }

  async create(input: NewWebhook): Promise<WebhookWithSecret> {
    const at = iso(this.now());
    const id = newId();
    await this.db
      .insertInto('webhooks')
      .values({
        id,
        name: input.name,
        description: input.description ?? '',
        url: input.url,
        secret: newWebhookSecret(),
        events_json: JSON.stringify(input.events),
        area_id: input.areaId,
        active: input.active === false ? 0 : 1,
        created_by: input.createdBy,
        created_at: at,
        updated_at: at,
      })
      .execute();
    return this.require(id);
  }

  async update(id: string, patch: WebhookPatch): Promise<WebhookWithSecret> {
    const changes = {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.url !== undefined ? { url: patch.url } : {}),
      ...(patch.events !== undefined ? { events_json: JSON.stringify(patch.events) } : {}),
      ...(patch.active !== undefined ? { active: patch.active ? 1 : 0 } : {}),
    };
    const res = await this.db.updateTable('webhooks').set({ ...changes, updated_at: iso(this.now()) }).where('id', '=', id).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw notFound(id);
    return this.require(id);
  }

  /** A new secret; deliveries signed from now on (pending ones included) use it. */
  async rotateSecret(id: string): Promise<WebhookWithSecret> {
    const res = await this.db.updateTable('webhooks').set({ secret: newWebhookSecret(), updated_at: iso(this.now()) }).where('id', '=', id).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw notFound(id);
    return this.require(id);
  }

  async delete(id: string): Promise<void> {
    const res = await this.db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw notFound(id);
  }
}
