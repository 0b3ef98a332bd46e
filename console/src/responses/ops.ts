/** The server itself: settings for the console, health, signing keys. */
import { Type, type Static } from '@sinclair/typebox';
import type { SigningKeyState } from '@loalang/broker';
import { ServerKey } from '@loalang/protocol';
import { Instant, Nullable, StringEnum } from './common.js';

export const SettingsSchema = Type.Object({
  mapTileUrl: Nullable(Type.String({ description: 'tile URL template behind device positions; null: a plain grid' })),
  mapAttribution: Nullable(Type.String()),
});
export type Settings = Static<typeof SettingsSchema>;

export const HealthSchema = Type.Object({
  status: Type.String(),
  mqttPort: Type.Integer(),
  node: Type.String({ description: 'this server node (LOALANG_NODE_ID, or the host name)' }),
  leader: Type.Boolean({ description: 'whether this node does the work that happens once (always true on a single server)' }),
});

const KEY_STATES = ['next', 'active', 'retired'] as const satisfies readonly SigningKeyState[];

/** A downlink signing key (decision 0016); its private half never leaves the server. */
export const SigningKeySchema = Type.Object({
  ...ServerKey.properties,
  state: StringEnum(KEY_STATES),
  createdAt: Instant,
  activatedAt: Nullable(Instant),
  retiredAt: Nullable(Instant),
});
export type SigningKey = Static<typeof SigningKeySchema>;

export const SigningKeysSchema = Type.Object({
  keys: Type.Array(SigningKeySchema),
  trusted: Type.Array(ServerKey, { description: 'what agents pin: the active key, then the next one' }),
});
