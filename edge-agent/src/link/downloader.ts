/**
 * Downloads from the server with the device's credentials into a part file that survives a cut
 * link: each chunk is on disk before the next is read, and the next try asks for the rest with a
 * Range request. A server node that does not answer (network error or 5xx) is tried on the
 * cluster's other nodes, path unchanged (issue 17). Audio (ContentCache) and agent releases
 * (update/updater.ts) both come this way.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Logger } from '@loalang/protocol';
import { agentError } from '../errors.js';

export type FetchLike = typeof fetch;

export interface DownloaderOptions {
  auth: { username: string; password: string };
  logger: Logger;
  fetch?: FetchLike;
  /** Origins (`https://node-b:8080`) of the other nodes of the server's cluster. */
  mirrors?: string[];
}

export async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

export class Downloader {
  private readonly fetch: FetchLike;

  constructor(private readonly o: DownloaderOptions) {
    this.fetch = o.fetch ?? fetch;
  }

  /**
   * Fetches `url` into `part`, from where an earlier try stopped; returns the size it resumed
   * from. `what` names it in errors. The caller checks the result (hash) and renames it.
   */
  async toFile(url: string, part: string, what: string): Promise<number> {
    const have = await sizeOf(part);
    const headers: Record<string, string> = {
      authorization: `Basic ${Buffer.from(`${this.o.auth.username}:${this.o.auth.password}`).toString('base64')}`,
    };
    if (have > 0) headers['range'] = `bytes=${have}-`;
    const res = await this.fetchFromAny(url, headers);
    if (res.status === 416 && have > 0) {
      // The part file is already whole (or longer than the file): the caller verifies it as it is.
      return have;
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw agentError('LOA_ERR_CONTENT_DOWNLOAD', `HTTP ${res.status} for ${what}`);
    }
    const append = res.status === 206 && have > 0;
    const fh = await open(part, append ? 'a' : 'w');
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) await fh.write(chunk);
    } finally {
      await fh.close();
    }
    return append ? have : 0;
  }

  /** The URL, then the same path on each mirror while the answer is a network error or a 5xx. */
  private async fetchFromAny(url: string, headers: Record<string, string>): Promise<Response> {
    const { origin, pathname, search } = new URL(url);
    const others = (this.o.mirrors ?? []).map((m) => new URL(m).origin).filter((o, i, all) => o !== origin && all.indexOf(o) === i);
    const candidates = [url, ...others.map((o) => `${o}${pathname}${search}`)];
    for (let i = 0; ; i++) {
      const last = i === candidates.length - 1;
      try {
        const res = await this.fetch(candidates[i]!, { headers, signal: AbortSignal.timeout(10 * 60_000) });
        if (res.status < 500 || last) return res;
        await res.body?.cancel();
        this.o.logger.warn({ url: candidates[i], status: res.status }, 'download failed on this server node; trying the next');
      } catch (err) {
        if (last) throw err;
        this.o.logger.warn({ url: candidates[i], err: (err as Error).message }, 'download failed on this server node; trying the next');
      }
    }
  }
}
