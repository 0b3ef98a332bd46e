/**
 * One error shape for every route: {error: {code, message, messageVi}}.
 * LoaErrors carry their status; Fastify's own errors (validation, body size, media type)
 * are translated so operators read both languages.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { isLoaError } from '@loalang/protocol';
import { brokerError, httpStatusOf, isDatabaseUnavailable } from '@loalang/broker';
import { describeValidation, pickError } from './validation-text.js';

export interface ErrorBody {
  error: { code: string; message: string; messageVi: string; details?: unknown };
}

const FASTIFY_ERRORS: Record<string, { code: string; vi: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'LOA_ERR_TOO_LARGE', vi: 'Dữ liệu gửi lên quá lớn' },
  FST_REQ_FILE_TOO_LARGE: { code: 'LOA_ERR_TOO_LARGE', vi: 'Tệp tải lên quá lớn' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'LOA_ERR_UNSUPPORTED_MEDIA_TYPE', vi: 'Kiểu dữ liệu không được hỗ trợ' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'LOA_ERR_INVALID', vi: 'Độ dài dữ liệu không hợp lệ' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'LOA_ERR_INVALID', vi: 'Thiếu dữ liệu JSON' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'LOA_ERR_INVALID', vi: 'Dữ liệu JSON không hợp lệ' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { code: 'LOA_ERR_INVALID', vi: 'Yêu cầu phải là multipart/form-data' },
  FST_PARTS_LIMIT: { code: 'LOA_ERR_TOO_LARGE', vi: 'Quá nhiều phần trong yêu cầu' },
  FST_FILES_LIMIT: { code: 'LOA_ERR_TOO_LARGE', vi: 'Quá nhiều tệp trong yêu cầu' },
};

export function errorBody(code: string, message: string, messageVi: string, details?: unknown): ErrorBody {
  return { error: { code, message, messageVi, ...(details === undefined ? {} : { details }) } };
}

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (isLoaError(err)) {
      const { httpStatus: _s, ...details } = err.details ?? {};
      // A rate limit says when to come back (a service account's key, issue 21).
      if (typeof details['retryAfterSec'] === 'number') reply.header('Retry-After', String(details['retryAfterSec']));
      return reply.status(httpStatusOf(err)).send(errorBody(err.code, err.message, err.messageVi, Object.keys(details).length ? details : undefined));
    }
    if (err.validation) {
      const text = describeValidation(pickError(err.validation), err.validationContext ?? 'body');
      return reply.status(400).send(errorBody('LOA_ERR_INVALID', `Invalid request: ${text.en}`, `Yêu cầu không hợp lệ: ${text.vi}`));
    }
    if (isDatabaseUnavailable(err)) {
      // Issue 16: the database restarts or is unreachable; the caller is told, and may retry.
      request.log.warn({ err: { message: err.message, code: err.code } }, 'database unavailable');
      const e = brokerError('LOA_ERR_DATABASE_UNAVAILABLE');
      return reply.status(503).header('Retry-After', '5').send(errorBody(e.code, e.message, e.messageVi));
    }
    const known = err.code ? FASTIFY_ERRORS[err.code] : undefined;
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (known) return reply.status(status).send(errorBody(known.code, err.message, known.vi));
    if (status < 500) return reply.status(status).send(errorBody('LOA_ERR_INVALID', err.message, 'Yêu cầu không hợp lệ'));
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send(errorBody('LOA_ERR_INTERNAL', 'Internal server error', 'Lỗi máy chủ'));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send(errorBody('LOA_ERR_NOT_FOUND', `No route ${request.method} ${request.url}`, 'Không tìm thấy đường dẫn')),
  );
}
