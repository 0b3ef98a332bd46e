/**
 * The agent's audio cache: downloads what upcoming plays need over HTTP with the device's
 * credentials, resumes an interrupted download with a Range request, keeps a file only if
 * its sha256 matches the desired state, and evicts least-recently-used files that no
 * upcoming play needs when the cache is over its size.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DesiredPlay, Logger } from '@loalang/protocol';
import { agentError } from '../errors.js';
import type { AgentStore } from './store.js';
import { Downloader, sha256Of, sizeOf, type FetchLike } from '../link/downloader.js';

export type { FetchLike } from '../link/downloader.js';

export interface ContentCacheOptions {
  dir: string;
  store: AgentStore;
  auth: { username: string; password: string };
  maxBytes: number;
  logger: Logger;
  now: () => number;
  fetch?: FetchLike;
  /**
   * Origins (`https://node-b:8080`) of the other nodes of the server's cluster: a download its
   * own server does not answer (network error or 5xx) is tried there, path unchanged (issue 17).
   */
  mirrors?: string[];
}

export class ContentCache {
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly downloader: Downloader;

  constructor(private readonly o: ContentCacheOptions) {
    this.downloader = new Downloader({ auth: o.auth, logger: o.logger, ...(o.fetch ? { fetch: o.fetch } : {}), ...(o.mirrors ? { mirrors: o.mirrors } : {}) });
  }

  /** The verified file for this content, or null when it is not (yet) cached. */
  pathFor(contentId: string, sha256: string): string | null {
    const e = this.o.store.cacheEntry(contentId);
    return e && e.sha256 === sha256 ? e.path : null;
  }

  has(play: Pick<DesiredPlay, 'contentId' | 'sha256'>): boolean {
    return this.pathFor(play.contentId, play.sha256) !== null;
  }

  /**
   * Downloads every missing item the plays need; failures are reported per content id.
   * Relays have nothing to download (and the device's credentials never go to a stream host).
   */
  async ensureAll(plays: DesiredPlay[]): Promise<{ failed: string[] }> {
    const unique = new Map<string, DesiredPlay>();
    for (const p of plays) if (!p.streamUrl && !unique.has(p.contentId)) unique.set(p.contentId, p);
    const failed: string[] = [];
    for (const play of unique.values()) {
      try {
        await this.ensure(play);
      } catch (err) {
        failed.push(play.contentId);
        this.o.logger.warn({ contentId: play.contentId, err: (err as Error).message }, 'content not cached');
      }
    }
    await this.evict(new Set(unique.keys()));
    return { failed };
  }

  ensure(play: Pick<DesiredPlay, 'contentId' | 'sha256' | 'url'>): Promise<void> {
    if (this.has(play)) {
      this.o.store.touchCacheEntry(play.contentId, this.o.now());
      return Promise.resolve();
    }
    let job = this.inflight.get(play.contentId);
    if (!job) {
      job = this.download(play).finally(() => this.inflight.delete(play.contentId));
      this.inflight.set(play.contentId, job);
    }
    return job;
  }

  private async download(play: Pick<DesiredPlay, 'contentId' | 'sha256' | 'url'>): Promise<void> {
    await mkdir(this.o.dir, { recursive: true });
    const final = join(this.o.dir, `${play.contentId}.audio`);
    const part = `${final}.part`;
    const resumedFrom = await this.downloader.toFile(play.url, part, play.contentId);
    await this.keepIfVerified(play, part, final);
    this.o.logger.info({ contentId: play.contentId, resumedFrom }, 'content cached');
  }

  /** Keeps audio that arrived inside a message (a small alert) once its hash checks out. */
  async storeBytes(item: Pick<DesiredPlay, 'contentId' | 'sha256'>, bytes: Buffer): Promise<void> {
    if (this.has(item)) return this.o.store.touchCacheEntry(item.contentId, this.o.now());
    await mkdir(this.o.dir, { recursive: true });
    const final = join(this.o.dir, `${item.contentId}.audio`);
    await writeFile(`${final}.part`, bytes);
    await this.keepIfVerified(item, `${final}.part`, final);
  }

  /** The part file becomes the cached file if its SHA-256 is the one asked for; else it is removed. */
  private async keepIfVerified(item: Pick<DesiredPlay, 'contentId' | 'sha256'>, part: string, final: string): Promise<void> {
    const digest = await sha256Of(part);
    if (digest !== item.sha256) {
      await rm(part, { force: true });
      throw agentError('LOA_ERR_CONTENT_HASH', `${item.contentId}: got ${digest.slice(0, 12)}…, expected ${item.sha256.slice(0, 12)}…`);
    }
    await rename(part, final);
    this.o.store.putCacheEntry({ contentId: item.contentId, sha256: item.sha256, path: final, size: await sizeOf(final), lastUsed: this.o.now() });
  }

  /** Removes least-recently-used files no upcoming play needs until the cache fits. */
  private async evict(needed: Set<string>): Promise<void> {
    const entries = this.o.store.cacheEntries();
    let total = entries.reduce((n, e) => n + e.size, 0);
    for (const e of entries) {
      if (total <= this.o.maxBytes) break;
      if (needed.has(e.contentId)) continue;
      await rm(e.path, { force: true });
      this.o.store.removeCacheEntry(e.contentId);
      total -= e.size;
      this.o.logger.info({ contentId: e.contentId }, 'content evicted');
    }
  }

  cachedIds(): string[] {
    return this.o.store.cacheEntries().map((e) => e.contentId);
  }

  /** Bytes of audio held. */
  sizeBytes(): number {
    return this.o.store.cacheEntries().reduce((n, e) => n + e.size, 0);
  }
}
