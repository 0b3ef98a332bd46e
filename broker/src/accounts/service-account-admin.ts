/**
 * The rules of service accounts (issue 21): an administrator makes, rotates and revokes them
 * only inside their own areas, as for users; a key is checked, rate-limited and its use noted
 * on every request that presents it.
 */
import type { AreaRepo } from '../areas/areas.js';
import { brokerError } from '../errors.js';
import type { Role } from './roles.js';
import { assertInScope, type Caller } from './scope.js';
import type { NewServiceAccount, ServiceAccount, ServiceAccountRepo } from './service-accounts.js';

/**
 * Requests per key per minute, counted in fixed one-minute windows in this process's memory: on a
 * cluster each node counts its own share, so a key spread over N nodes may make up to N times its
 * limit (decision 0028). Only keys that passed their check are counted, so strangers cannot grow it.
 */
export class KeyRateWindow {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly now: () => number) {}

  /** Counts one request; null when allowed, else the seconds until the key may call again. */
  take(id: string, perMinute: number): number | null {
    const now = this.now();
    let w = this.windows.get(id);
    if (!w || now - w.start >= 60_000) {
      if (this.windows.size > 10_000) this.forgetOld(now);
      w = { start: now, count: 0 };
      this.windows.set(id, w);
    }
    if (w.count >= perMinute) return Math.max(1, Math.ceil((w.start + 60_000 - now) / 1000));
    w.count++;
    return null;
  }

  private forgetOld(now: number): void {
    for (const [id, w] of this.windows) if (now - w.start >= 60_000) this.windows.delete(id);
  }
}

export class ServiceAccountAdmin {
  private readonly rate: KeyRateWindow;

  constructor(
    private readonly deps: { repo: ServiceAccountRepo; areas: Pick<AreaRepo, 'require'>; now: () => number },
  ) {
    this.rate = new KeyRateWindow(deps.now);
  }

  async list(caller: Caller): Promise<ServiceAccount[]> {
    return (await this.deps.repo.list()).filter((a) => caller.scope.has(a.areaId));
  }

  /** An account inside the caller's areas (404 when unknown, 403 when outside them). */
  async visible(caller: Caller, id: string): Promise<ServiceAccount> {
    const account = await this.deps.repo.require(id);
    assertInScope(caller, account.areaId);
    return account;
  }

  async create(caller: Caller, input: Omit<NewServiceAccount, 'createdBy'> & { role: Role }): Promise<{ account: ServiceAccount; key: string }> {
    assertInScope(caller, input.areaId);
    await this.deps.areas.require(input.areaId);
    return this.deps.repo.create({ ...input, createdBy: caller.serviceAccount ? null : caller.user.id });
  }

  async rotate(caller: Caller, id: string, expiresInDays?: number): Promise<{ account: ServiceAccount; key: string }> {
    return this.deps.repo.rotate((await this.visible(caller, id)).id, expiresInDays);
  }

  async revoke(caller: Caller, id: string): Promise<ServiceAccount> {
    return this.deps.repo.revoke((await this.visible(caller, id)).id);
  }

  async update(caller: Caller, id: string, patch: { description?: string; rateLimitPerMinute?: number }): Promise<ServiceAccount> {
    return this.deps.repo.update((await this.visible(caller, id)).id, patch);
  }

  /**
   * The caller behind a presented key, or a 401 saying why not (revoked, expired: in both
   * languages), or a 429 with the seconds to wait. Its use is noted, at most once a minute.
   */
  async authenticate(key: string, source: string): Promise<Caller> {
    const check = await this.deps.repo.check(key);
    if (!check.ok) {
      if (check.reason === 'revoked') throw brokerError('LOA_ERR_KEY_REVOKED', { en: `key ${check.account?.prefix ?? ''}`, vi: `khóa ${check.account?.prefix ?? ''}` });
      if (check.reason === 'expired') throw brokerError('LOA_ERR_KEY_EXPIRED', { en: `key ${check.account?.prefix ?? ''} expired at ${check.account?.expiresAt ?? ''}`, vi: `khóa ${check.account?.prefix ?? ''} hết hạn lúc ${check.account?.expiresAt ?? ''}` });
      throw brokerError('LOA_ERR_UNAUTHENTICATED', { en: 'unknown API key', vi: 'khóa API không đúng' });
    }
    const wait = this.rate.take(check.account.id, check.account.rateLimitPerMinute);
    if (wait !== null) {
      throw brokerError(
        'LOA_ERR_RATE_LIMITED',
        { en: `this API key may make ${check.account.rateLimitPerMinute} requests a minute; retry in ${wait} s`, vi: `khóa API này chỉ được gửi ${check.account.rateLimitPerMinute} yêu cầu mỗi phút; thử lại sau ${wait} giây` },
        { retryAfterSec: wait },
      );
    }
    await this.deps.repo.touch(check.account, source);
    return check.caller;
  }
}
