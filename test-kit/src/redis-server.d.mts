export interface RedisServer {
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** Whether it is up (not stopped). */
  readonly running: boolean;
  /** Starts it again (on the same port) after `stop`. */
  start(): Promise<void>;
  /** Kills it (SIGKILL: everything it held is gone, as after a crash). */
  stop(): Promise<void>;
  destroy(): Promise<void>;
}
export function redisSkipReason(): string | null;
/** `replicaOf`: a replica of the primary on that port; `sentinelOf`: a Sentinel watching it as `loalang`. */
export function startRedis(options?: { replicaOf?: number; sentinelOf?: number }): Promise<RedisServer>;
