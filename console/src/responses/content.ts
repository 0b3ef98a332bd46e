/** The audio library and the named live sources. */
import { Type, type Static } from '@sinclair/typebox';
import { CONTENT_KINDS } from '@loalang/broker';
import { Id, Instant, Nullable, StringEnum } from './common.js';

export const ContentKindSchema = StringEnum(CONTENT_KINDS, { description: 'an upload, a bulletin read by the speech engine, or speech made for an alert' });
export type ContentKind = Static<typeof ContentKindSchema>;

export const ContentItemSchema = Type.Object({
  id: Id,
  title: Type.String(),
  kind: ContentKindSchema,
  areaId: Type.String(),
  originalName: Nullable(Type.String()),
  mimeType: Type.String(),
  sha256: Type.String({ description: 'of the stored file; agents check it' }),
  sizeBytes: Type.Integer(),
  durationMs: Type.Integer(),
  source: Type.Record(Type.String(), Type.Unknown(), { description: 'what the upload was (container, codec, rate, channels) and its measured loudness' }),
  createdBy: Nullable(Type.String()),
  createdAt: Instant,
});
export type ContentItem = Static<typeof ContentItemSchema>;

/** POST /content/tts: the item with the text it speaks. */
export const SpokenContentSchema = Type.Object({ ...ContentItemSchema.properties, text: Type.String() });

export const StreamSourceSchema = Type.Object({
  id: Id,
  name: Type.String(),
  url: Type.String(),
  areaId: Type.String(),
  createdBy: Nullable(Type.String()),
  createdAt: Instant,
});
export type StreamSource = Static<typeof StreamSourceSchema>;

export const StreamSourcesSchema = Type.Object({
  allowedHosts: Nullable(Type.Array(Type.String(), { description: 'hosts relays may use; null: any' })),
  sources: Type.Array(StreamSourceSchema),
});
export type StreamSources = Static<typeof StreamSourcesSchema>;
