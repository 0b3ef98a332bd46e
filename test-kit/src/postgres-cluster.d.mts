/** Types of postgres-cluster.mjs (a throwaway PostgreSQL cluster for tests and benchmarks). */
export interface PostgresCluster {
  readonly port: number;
  /** The superuser's URL for a database of the cluster (default `postgres`). */
  url(database?: string): string;
  /** A new empty database; its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Stops the server (fast shutdown: connections are cut), keeping its data. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}
/** Where Debian's server binaries are (the newest version installed), or null. */
export function postgresBinDir(): string | null;
/** Why PostgreSQL tests cannot run here, or null when they can. */
export function postgresSkipReason(): string | null;
/** Makes a database in the cluster at `adminUrl` and returns its URL. */
export function createDatabase(adminUrl: string, prefix?: string): Promise<string>;
/** Starts a new cluster; `durable` keeps fsync on (benchmarks). */
export function startPostgres(options?: { durable?: boolean }): Promise<PostgresCluster>;
