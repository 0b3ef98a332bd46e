/**
 * First start on an empty database: a root area and the `admin` user over it. The password
 * comes from LOALANG_ADMIN_PASSWORD or is random and shown once; there is no fixed default.
 */
import { randomSecret, type ServerServices } from '@loalang/broker';

export interface BootstrapResult {
  created: boolean;
  /** Set only when the password was generated here and must be shown to the operator once. */
  generatedPassword?: string;
  rootAreaId?: string;
}

export async function bootstrapAdmin(core: ServerServices, env: NodeJS.ProcessEnv = process.env): Promise<BootstrapResult> {
  if ((await core.users.count()) > 0) return { created: false };
  const roots = (await core.areas.list()).filter((a) => a.parentId === null);
  const root = roots[0] ?? (await core.areas.create({ name: env['LOALANG_ROOT_AREA_NAME'] ?? 'Toàn tỉnh', parentId: null }));
  const fromEnv = env['LOALANG_ADMIN_PASSWORD'];
  const password = fromEnv && fromEnv.length > 0 ? fromEnv : randomSecret(15);
  await core.users.create({ username: 'admin', password, role: 'admin', areaId: root.id });
  return { created: true, rootAreaId: root.id, ...(fromEnv ? {} : { generatedPassword: password }) };
}
