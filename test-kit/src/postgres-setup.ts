/**
 * vitest global setup: one throwaway PostgreSQL cluster for the run (issue 16), its URL handed
 * to the tests as `postgresUrl` (null, with `postgresSkip` saying why, where it cannot start).
 * `LOALANG_TEST_POSTGRES_URL` names an existing server instead (its user must create databases).
 */
import type { TestProject } from 'vitest/node';
import { postgresSkipReason, startPostgres, type PostgresCluster } from './postgres.js';
import './databases.js'; // the provided values' types

let cluster: PostgresCluster | null = null;
let users = 0;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env['LOALANG_TEST_POSTGRES_URL'];
  const reason = given ? null : postgresSkipReason();
  if (!given && !reason && !cluster) cluster = await startPostgres();
  users++;
  project.provide('postgresUrl', given ?? cluster?.url() ?? null);
  project.provide('postgresSkip', reason);
  return async () => {
    if (--users > 0) return;
    await cluster?.destroy();
    cluster = null;
  };
}
