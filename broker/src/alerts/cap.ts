/**
 * OASIS Common Alerting Protocol 1.2: parsing (fast-xml-parser, no DTDs or external
 * entities fetched) and validation of the fields we act on, with errors in both languages.
 * Element names and value lists follow §3.2 of the specification.
 */
import { XMLParser } from 'fast-xml-parser';
import { brokerError } from '../errors.js';
import type { AlertPriority } from './alerts.js';

export const CAP_NAMESPACE = 'urn:oasis:names:tc:emergency:cap:1.2';

const STATUS = ['Actual', 'Exercise', 'System', 'Test', 'Draft'] as const;
const MSG_TYPE = ['Alert', 'Update', 'Cancel', 'Ack', 'Error'] as const;
const SCOPE = ['Public', 'Restricted', 'Private'] as const;
const URGENCY = ['Immediate', 'Expected', 'Future', 'Past', 'Unknown'] as const;
const SEVERITY = ['Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown'] as const;
const CERTAINTY = ['Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown', 'Very Likely'] as const;

export interface CapResource {
  resourceDesc: string;
  mimeType: string;
  size?: number;
  uri?: string;
  derefUri?: string;
}

export interface CapArea {
  areaDesc: string;
  polygons: string[];
  circles: string[];
  geocodes: { valueName: string; value: string }[];
}

export interface CapInfo {
  language: string;
  event: string;
  urgency: (typeof URGENCY)[number];
  severity: (typeof SEVERITY)[number];
  certainty: (typeof CERTAINTY)[number];
  headline?: string;
  description?: string;
  instruction?: string;
  expires?: string;
  resources: CapResource[];
  areas: CapArea[];
}

export interface CapReference {
  sender: string;
  identifier: string;
  sent: string;
}

export interface CapMessage {
  identifier: string;
  sender: string;
  sent: string;
  status: (typeof STATUS)[number];
  msgType: (typeof MSG_TYPE)[number];
  scope: (typeof SCOPE)[number];
  references: CapReference[];
  info: CapInfo[];
}

const REPEATED = new Set(['info', 'area', 'polygon', 'circle', 'geocode', 'resource', 'category', 'responseType', 'code', 'parameter', 'eventCode']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => REPEATED.has(name),
});

function invalid(en: string, vi: string): never {
  throw brokerError('LOA_ERR_INVALID', { en: `CAP: ${en}`, vi: `CAP: ${vi}` });
}

type Node = Record<string, unknown>;

function text(node: Node, name: string, where: string, required: true): string;
function text(node: Node, name: string, where: string, required?: false): string | undefined;
function text(node: Node, name: string, where: string, required = false): string | undefined {
  const v = node[name];
  const s = typeof v === 'string' ? v : typeof v === 'object' && v !== null && typeof (v as Node)['#text'] === 'string' ? ((v as Node)['#text'] as string) : undefined;
  if ((s === undefined || s === '') && required) invalid(`<${where}> lacks the required <${name}>`, `<${where}> thiếu trường bắt buộc <${name}>`);
  return s === '' ? undefined : s;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], name: string): T {
  if (!(allowed as readonly string[]).includes(value)) invalid(`<${name}> "${value}" is not one of ${allowed.join(', ')}`, `<${name}> "${value}" không thuộc ${allowed.join(', ')}`);
  return value as T;
}

/** CAP dateTime: ISO 8601 with an explicit offset ("2002-05-24T16:49:00-07:00"), §3.3.2. */
function dateTime(value: string, name: string): string {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$/.test(value) || Number.isNaN(Date.parse(value))) {
    invalid(`<${name}> "${value}" is not a CAP dateTime`, `<${name}> "${value}" không đúng định dạng thời gian CAP`);
  }
  return new Date(Date.parse(value)).toISOString();
}

const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : []);

function parseArea(a: Node): CapArea {
  return {
    areaDesc: text(a, 'areaDesc', 'area', true),
    polygons: list(a['polygon']).map(String).filter(Boolean),
    circles: list(a['circle']).map(String).filter(Boolean),
    geocodes: list(a['geocode']).map((g) => ({ valueName: text(g, 'valueName', 'geocode', true), value: text(g, 'value', 'geocode', true) })),
  };
}

function parseResource(r: Node): CapResource {
  const size = text(r, 'size', 'resource');
  const res: CapResource = { resourceDesc: text(r, 'resourceDesc', 'resource', true), mimeType: text(r, 'mimeType', 'resource', true) };
  if (size !== undefined && /^\d+$/.test(size)) res.size = Number(size);
  const uri = text(r, 'uri', 'resource');
  const deref = text(r, 'derefUri', 'resource');
  if (uri) res.uri = uri;
  if (deref) res.derefUri = deref.replace(/\s+/g, '');
  return res;
}

function parseInfo(i: Node): CapInfo {
  if (list(i['category']).length === 0) invalid('<info> lacks the required <category>', '<info> thiếu trường bắt buộc <category>');
  const info: CapInfo = {
    language: text(i, 'language', 'info') ?? 'en-US',
    event: text(i, 'event', 'info', true),
    urgency: oneOf(text(i, 'urgency', 'info', true), URGENCY, 'urgency'),
    severity: oneOf(text(i, 'severity', 'info', true), SEVERITY, 'severity'),
    certainty: oneOf(text(i, 'certainty', 'info', true), CERTAINTY, 'certainty'),
    resources: list(i['resource']).map(parseResource),
    areas: list(i['area']).map(parseArea),
  };
  for (const k of ['headline', 'description', 'instruction'] as const) {
    const v = text(i, k, 'info');
    if (v) info[k] = v;
  }
  const expires = text(i, 'expires', 'info');
  if (expires) info.expires = dateTime(expires, 'expires');
  return info;
}

/** `references`: space-separated "sender,identifier,sent" triples (§3.2.1). */
function parseReferences(value: string | undefined): CapReference[] {
  if (!value) return [];
  return value.split(/\s+/).map((triple) => {
    const [sender, identifier, sent, ...rest] = triple.split(',');
    if (!sender || !identifier || !sent || rest.length > 0) invalid(`<references> entry "${triple}" is not sender,identifier,sent`, `<references> mục "${triple}" không có dạng sender,identifier,sent`);
    return { sender, identifier, sent };
  });
}

export function parseCap(xml: string): CapMessage {
  let doc: Node;
  try {
    doc = parser.parse(xml, true) as Node;
  } catch (err) {
    invalid(`not well-formed XML: ${(err as Error).message.slice(0, 200)}`, `XML không hợp lệ: ${(err as Error).message.slice(0, 200)}`);
  }
  const alert = doc['alert'] as Node | undefined;
  if (!alert || typeof alert !== 'object') invalid('the root element is not <alert>', 'phần tử gốc không phải <alert>');
  // Namespace prefixes are stripped when parsing, so the declared CAP version is read from the text.
  const declared = [...xml.matchAll(/urn:oasis:names:tc:emergency:cap:[0-9.]+/g)].map((m) => m[0]);
  if (declared.length > 0 && !declared.includes(CAP_NAMESPACE)) invalid(`namespace ${declared[0]} is not CAP 1.2 (${CAP_NAMESPACE})`, `không gian tên ${declared[0]} không phải CAP 1.2`);
  const msg: CapMessage = {
    identifier: text(alert, 'identifier', 'alert', true),
    sender: text(alert, 'sender', 'alert', true),
    sent: dateTime(text(alert, 'sent', 'alert', true), 'sent'),
    status: oneOf(text(alert, 'status', 'alert', true), STATUS, 'status'),
    msgType: oneOf(text(alert, 'msgType', 'alert', true), MSG_TYPE, 'msgType'),
    scope: oneOf(text(alert, 'scope', 'alert', true), SCOPE, 'scope'),
    references: parseReferences(text(alert, 'references', 'alert')),
    info: list(alert['info']).map(parseInfo),
  };
  if ((msg.msgType === 'Update' || msg.msgType === 'Cancel') && msg.references.length === 0) {
    invalid(`an ${msg.msgType} must name the message it changes in <references>`, `bản tin ${msg.msgType} phải ghi bản tin gốc trong <references>`);
  }
  return msg;
}

/** The info block to broadcast: Vietnamese when there is one, else the first. */
export function pickInfo(msg: CapMessage): CapInfo | null {
  return msg.info.find((i) => i.language.toLowerCase().startsWith('vi')) ?? msg.info[0] ?? null;
}

/**
 * Extreme or Severe hazards that are Immediate or Expected and not Unlikely cut into whatever
 * plays (emergency); everything else plays as soon as the current play ends (priority).
 */
export function capPriority(info: CapInfo): AlertPriority {
  const grave = info.severity === 'Extreme' || info.severity === 'Severe';
  const soon = info.urgency === 'Immediate' || info.urgency === 'Expected';
  return grave && soon && info.certainty !== 'Unlikely' ? 'emergency' : 'priority';
}

/** What is spoken when the message carries no audio: headline, description, instruction. */
export function capSpeech(info: CapInfo): string {
  return [info.headline ?? info.event, info.description, info.instruction].filter(Boolean).join('. ').slice(0, 5000);
}
