/**
 * The databases a test runs on (issue 16): SQLite always; PostgreSQL where the run's cluster is
 * up (see postgres-setup.ts). `describe.each(databases())` runs a suite on both; without
 * PostgreSQL its half is skipped and the reason printed once.
 */
import { inject } from 'vitest';
import { createDatabase } from './postgres.js';

export type TestDialect = 'sqlite' | 'postgres';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | null;
    postgresSkip: string | null;
  }
}

let told = false;

/** The PostgreSQL cluster's superuser URL for this run, or null (the reason is printed once). */
export function postgresUrl(): string | null {
  const url = inject('postgresUrl');
  if (!url && !told) {
    told = true;
    console.warn(`PostgreSQL tests skipped: ${inject('postgresSkip') ?? 'no cluster'}`);
  }
  return url;
}

/** The dialects to run a suite on, each with whether it can run here. */
export function databases(): { dialect: TestDialect; skip: boolean }[] {
  return [
    { dialect: 'sqlite', skip: false },
    { dialect: 'postgres', skip: postgresUrl() === null },
  ];
}

/** A new empty PostgreSQL database of the run's cluster; its URL. */
export async function freshPostgres(prefix?: string): Promise<string> {
  const url = postgresUrl();
  if (!url) throw new Error('no PostgreSQL cluster in this run');
  return createDatabase(url, prefix);
}

/**
 * Which database the end-to-end suites use: `LOALANG_TEST_DATABASE=postgres` (the vitest
 * project 'postgres' sets it) runs them on a fresh PostgreSQL database each, else SQLite.
 */
export function e2eDialect(): TestDialect {
  return process.env['LOALANG_TEST_DATABASE'] === 'postgres' ? 'postgres' : 'sqlite';
}

/** The database options for a server under test: a fresh PostgreSQL database in the 'postgres' project, else none (SQLite under its data folder). */
export async function serverDatabase(): Promise<{ databaseUrl?: string }> {
  if (e2eDialect() !== 'postgres') return {};
  return { databaseUrl: await freshPostgres('e2e') };
}
