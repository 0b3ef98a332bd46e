/**
 * Request-validation failures as sentences an operator reads, in both languages (issue 14: the
 * Vietnamese message was "body/recurrence/time must match pattern …"). Each names the field, in
 * Vietnamese where we know its name, and says what it must be. The JSON body parser refuses
 * prototype-poisoning keys with their own message instead of "not valid JSON".
 */
import type { FastifyInstance, FastifySchemaValidationError } from 'fastify';
import { brokerError } from '@loalang/broker';

/** Vietnamese names of the fields people type or pick (last path segment). */
const FIELD_VI: Record<string, string> = {
  title: 'tiêu đề',
  text: 'nội dung',
  name: 'tên',
  start: 'thời điểm bắt đầu',
  items: 'danh sách nội dung phát',
  contentId: 'nội dung',
  streamUrl: 'địa chỉ luồng tiếp sóng',
  durationSec: 'thời lượng (giây)',
  targets: 'nơi phát',
  areaIds: 'địa bàn',
  deviceIds: 'thiết bị',
  areaId: 'địa bàn',
  deviceId: 'thiết bị',
  recurrence: 'lịch lặp',
  type: 'kiểu',
  time: 'giờ phát',
  days: 'các ngày trong tuần',
  dayOfMonth: 'ngày trong tháng',
  cron: 'biểu thức cron',
  validFrom: 'ngày bắt đầu hiệu lực',
  validTo: 'ngày hết hiệu lực',
  skipDates: 'ngày nghỉ',
  priority: 'mức ưu tiên',
  volume: 'âm lượng',
  repeat: 'số lần lặp',
  count: 'số lần',
  gapSec: 'khoảng nghỉ (giây)',
  gapMs: 'khoảng nghỉ (ms)',
  expiresAt: 'thời điểm hết hạn',
  username: 'tên đăng nhập',
  password: 'mật khẩu',
  role: 'vai trò',
  quietHours: 'giờ yên tĩnh',
  from: 'từ',
  to: 'đến',
  timezone: 'múi giờ',
  url: 'địa chỉ',
  lat: 'vĩ độ',
  lon: 'kinh độ',
  position: 'vị trí',
  limit: 'giới hạn',
  id: 'mã',
};

const WHERE_VI: Record<string, string> = { body: 'dữ liệu gửi lên', querystring: 'tham số truy vấn', params: 'đường dẫn', headers: 'tiêu đề yêu cầu' };

const TYPE_VI: Record<string, string> = { string: 'một chuỗi ký tự', integer: 'một số nguyên', number: 'một số', boolean: 'đúng hoặc sai', object: 'một đối tượng', array: 'một danh sách', null: 'để trống' };

/** Patterns our schemas use, said as people read them. */
const PATTERN_VI: [RegExp, string, string][] = [
  [/\[01\]\\d\|2\[0-3\]/, 'a time HH:MM (e.g. 06:30)', 'giờ dạng HH:MM (ví dụ 06:30)'],
  [/\\d\{4\}-\\d\{2\}-\\d\{2\}\$/, 'a date YYYY-MM-DD', 'ngày dạng YYYY-MM-DD'],
  [/\^https\?:/, 'an http:// or https:// address', 'địa chỉ bắt đầu bằng http:// hoặc https://'],
];

export interface ValidationText {
  en: string;
  vi: string;
}

/** The segments of a JSON pointer. */
const depth = (e: FastifySchemaValidationError) => e.instancePath.split('/').filter(Boolean).length;

/**
 * The error to tell: for a union (TypeBox's anyOf), AJV lists each branch's failure before the
 * union's own. A union of literals becomes one "one of …" error; otherwise the branch that got
 * furthest into the value (the deepest path) is the one the caller meant.
 */
export function pickError(errors: FastifySchemaValidationError[]): FastifySchemaValidationError | undefined {
  const union = errors.find((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  if (!union) return errors[0];
  const branches = errors.filter((e) => e !== union && e.instancePath.startsWith(union.instancePath));
  if (branches.length === 0) return union;
  if (branches.every((e) => e.keyword === 'const' && e.instancePath === union.instancePath)) {
    return { ...union, keyword: 'enum', params: { allowedValues: branches.map((e) => (e.params as { allowedValue: unknown }).allowedValue) } };
  }
  // At the same depth, a broken value says more than a missing field, which says more than the wrong kind of value.
  const RANK: Record<string, number> = { required: 1, additionalProperties: 2, const: 3, type: 4, anyOf: 5, oneOf: 5 };
  const vague = (e: FastifySchemaValidationError) => RANK[e.keyword] ?? 0;
  return [...branches].sort((a, b) => depth(b) - depth(a) || vague(a) - vague(b))[0];
}

/** One validation error as a sentence in each language, naming the field. */
export function describeValidation(first: FastifySchemaValidationError | undefined, context: string): ValidationText {
  const where = context || 'body';
  const segments = (first?.instancePath ?? '').split('/').filter(Boolean);
  const params = (first?.params ?? {}) as Record<string, unknown>;
  // `required` and `additionalProperties` are about a property of the object at the path.
  const property = (params['missingProperty'] ?? params['additionalProperty']) as string | undefined;
  const path = [...segments, ...(property ? [property] : [])];
  const field = [...path].reverse().find((s) => !/^\d+$/.test(s));
  const fieldEn = path.length ? `${where}.${path.join('.')}` : where;
  const fieldVi = field ? `trường "${field}"${FIELD_VI[field] ? ` (${FIELD_VI[field]})` : ''}` : WHERE_VI[where] ?? where;
  const item = segments.find((s) => /^\d+$/.test(s));
  const atItem = item !== undefined ? ` ở mục thứ ${Number(item) + 1}` : '';
  const [en, vi] = sentence(first, params);
  return { en: `${fieldEn} ${en}`, vi: `${fieldVi}${atItem} ${vi}` };
}

function sentence(first: FastifySchemaValidationError | undefined, p: Record<string, unknown>): [string, string] {
  switch (first?.keyword) {
    case 'required':
      return ['is required', 'là bắt buộc'];
    case 'additionalProperties':
      return ['is not a field this request takes (additional property)', 'không phải là trường của yêu cầu này'];
    case 'type':
      return [`must be ${String(p['type'])}`, `phải là ${TYPE_VI[String(p['type'])] ?? String(p['type'])}`];
    case 'minimum':
    case 'exclusiveMinimum':
      return [`must be ${first.keyword === 'minimum' ? 'at least' : 'more than'} ${String(p['limit'])}`, `phải ${first.keyword === 'minimum' ? 'từ' : 'lớn hơn'} ${String(p['limit'])} trở lên`];
    case 'maximum':
    case 'exclusiveMaximum':
      return [`must be ${first.keyword === 'maximum' ? 'at most' : 'less than'} ${String(p['limit'])}`, `phải ${first.keyword === 'maximum' ? 'không quá' : 'nhỏ hơn'} ${String(p['limit'])}`];
    case 'minLength':
      return Number(p['limit']) === 1 ? ['must not be empty', 'không được để trống'] : [`must be at least ${String(p['limit'])} characters`, `phải có ít nhất ${String(p['limit'])} ký tự`];
    case 'maxLength':
      return [`must be at most ${String(p['limit'])} characters`, `không được dài quá ${String(p['limit'])} ký tự`];
    case 'minItems':
      return [`must hold at least ${String(p['limit'])}`, `phải có ít nhất ${String(p['limit'])} mục`];
    case 'maxItems':
      return [`must hold at most ${String(p['limit'])}`, `không được quá ${String(p['limit'])} mục`];
    case 'format':
      return p['format'] === 'date-time'
        ? ['must be an ISO 8601 instant (e.g. 2026-11-28T06:00:00+07:00)', 'phải là thời điểm dạng ISO 8601 (ví dụ 2026-11-28T06:00:00+07:00)']
        : [`must be a valid ${String(p['format'])}`, `không đúng định dạng ${String(p['format'])}`];
    case 'pattern': {
      const known = PATTERN_VI.find(([re]) => re.test(String(p['pattern'])));
      return known ? [`must be ${known[1]}`, `phải là ${known[2]}`] : ['is not in the expected form', 'không đúng định dạng'];
    }
    case 'const':
    case 'enum': {
      const allowed = (p['allowedValues'] as unknown[] | undefined) ?? (p['allowedValue'] !== undefined ? [p['allowedValue']] : []);
      const list = allowed.map((v) => JSON.stringify(v)).join(', ');
      return list ? [`must be one of ${list}`, `phải là một trong ${list}`] : ['has a value that is not allowed', 'có giá trị không được phép'];
    }
    case 'anyOf':
    case 'oneOf':
      return ['matches none of the forms this field takes', 'không khớp với dạng nào được chấp nhận'];
    case 'uniqueItems':
      return ['must not repeat an entry', 'không được lặp lại mục nào'];
    default:
      return [first?.message ?? 'is invalid', 'không hợp lệ'];
  }
}

/** A JSON key a body may not hold: it would poison an object's prototype once merged. */
function poisoned(key: string, value: unknown): boolean {
  return key === '__proto__' || (key === 'constructor' && value !== null && typeof value === 'object' && 'prototype' in value);
}

/**
 * The JSON body parser: Fastify's refuses `__proto__` too, but as "not valid JSON"; this one says
 * which key, and where the syntax broke.
 */
export function registerJsonParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(brokerError('LOA_ERR_INVALID', { en: 'the JSON body is empty', vi: 'dữ liệu JSON gửi lên đang trống' }), undefined);
    try {
      done(
        null,
        JSON.parse(text, (key, value: unknown) => {
          if (poisoned(key, value)) throw Object.assign(new Error(key), { forbiddenKey: key });
          return value;
        }),
      );
    } catch (err) {
      const key = (err as { forbiddenKey?: string }).forbiddenKey;
      if (key) return done(brokerError('LOA_ERR_INVALID', { en: `the body holds the forbidden key "${key}"`, vi: `dữ liệu gửi lên chứa khóa bị cấm "${key}"` }), undefined);
      const at = /position (\d+)/.exec((err as Error).message)?.[1];
      done(
        brokerError('LOA_ERR_INVALID', { en: `the body is not valid JSON (${(err as Error).message})`, vi: `dữ liệu gửi lên không phải JSON hợp lệ${at ? ` (lỗi cú pháp ở ký tự thứ ${Number(at) + 1})` : ''}` }),
        undefined,
      );
    }
  });
}
