/**
 * The rules of user accounts for administrators: accounts are made and changed only inside the
 * administrator's areas, and a new password or a disabled account ends the user's sessions
 * (a new password also ends every address's wait on the account).
 */
import type { AreaRepo } from '../areas/areas.js';
import type { LoginThrottle } from './login-throttle.js';
import type { Role } from './roles.js';
import { assertInScope, type Caller } from './scope.js';
import type { SessionRepo } from './sessions.js';
import type { User, UserRepo } from './users.js';

export class AccountAdmin {
  constructor(
    private readonly deps: {
      users: UserRepo;
      sessions: Pick<SessionRepo, 'revokeAllFor'>;
      loginThrottle: Pick<LoginThrottle, 'reset'>;
      areas: Pick<AreaRepo, 'require'>;
    },
  ) {}

  async list(caller: Caller): Promise<User[]> {
    return (await this.deps.users.list()).filter((u) => caller.scope.has(u.areaId));
  }

  /** A user inside the caller's areas (404 when unknown, 403 when outside them). */
  async visible(caller: Caller, userId: string): Promise<User> {
    const user = await this.deps.users.require(userId);
    assertInScope(caller, user.areaId);
    return user;
  }

  async create(caller: Caller, input: { username: string; password: string; role: Role; areaId: string }): Promise<User> {
    assertInScope(caller, input.areaId);
    await this.deps.areas.require(input.areaId);
    return this.deps.users.create(input);
  }

  async update(caller: Caller, userId: string, patch: Parameters<UserRepo['update']>[1]): Promise<User> {
    const user = await this.visible(caller, userId);
    if (patch.areaId) assertInScope(caller, patch.areaId);
    const updated = await this.deps.users.update(user.id, patch);
    if (patch.password || patch.disabled) await this.deps.sessions.revokeAllFor(user.id);
    if (patch.password) await this.deps.loginThrottle.reset(user.username);
    return updated;
  }

  async remove(caller: Caller, userId: string): Promise<void> {
    await this.deps.users.delete((await this.visible(caller, userId)).id);
  }
}
