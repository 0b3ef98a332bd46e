/**
 * Sends a stored file with HTTP Range support, so agents on 4G resume an interrupted
 * download where it stopped instead of starting again.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyReply } from 'fastify';
import { errorBody } from './errors.js';

export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return 'invalid';
  return { start, end };
}

export async function sendFile(reply: FastifyReply, path: string, mimeType: string, rangeHeader: string | undefined, etag: string): Promise<FastifyReply> {
  const { size } = await stat(path);
  reply.header('Accept-Ranges', 'bytes').header('Content-Type', mimeType).header('ETag', `"${etag}"`);
  const range = parseRange(rangeHeader, size);
  if (range === 'invalid') {
    return reply
      .status(416)
      .header('Content-Range', `bytes */${size}`)
      .header('Content-Type', 'application/json')
      .send(errorBody('LOA_ERR_RANGE', 'Requested range not satisfiable', 'Khoảng dữ liệu yêu cầu không hợp lệ'));
  }
  if (!range) return reply.header('Content-Length', size).send(createReadStream(path));
  return reply
    .status(206)
    .header('Content-Range', `bytes ${range.start}-${range.end}/${size}`)
    .header('Content-Length', range.end - range.start + 1)
    .send(createReadStream(path, { start: range.start, end: range.end }));
}
