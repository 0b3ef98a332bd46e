export interface LinkProfile {
  /** One-way delay added to every segment, each direction (ms). */
  delayMs: number;
  /** ± this much more or less, drawn per segment; never reorders (ms). */
  jitterMs: number;
  /** The link's rate each direction, kbit/s (0: no limit). */
  kbps: number;
  /** The chance that a segment is "lost" and resent: the queue stalls `stallMs` (0 to 1). */
  stallChance: number;
  stallMs: number;
}
export const PROFILES: { perfect: LinkProfile; rural4g: LinkProfile; poor4g: LinkProfile };
export type LinkStep = { afterMs?: number } & ({ do: 'cut' | 'halfOpen' | 'restore' } | { do: 'stall'; ms?: number } | { profile: Partial<LinkProfile> | keyof typeof PROFILES });
export interface Link {
  port: number;
  host: string;
  url(scheme: string): string;
  readonly state: 'up' | 'cut' | 'half-open';
  readonly profile: LinkProfile;
  set(profile: Partial<LinkProfile> | keyof typeof PROFILES): void;
  /** Resets every connection, and new ones at once, until restore(). */
  cut(): void;
  /** Connections stay open and hear nothing either way, new ones too; restore() resets them. */
  halfOpen(): void;
  /** Everything in flight waits `ms` more; nothing is lost. */
  stall(ms: number): void;
  restore(): void;
  run(steps: LinkStep[]): Promise<void>;
  stats(): { connections: number; refused: number; bytesUp: number; bytesDown: number; dropped: number; stalls: number; open: number };
  close(): Promise<void>;
}
/** A TCP proxy on 127.0.0.1 (a free port) in front of `target` that behaves like the profile's link. */
export function startLink(options: { target: { host?: string; port: number }; profile?: Partial<LinkProfile> | keyof typeof PROFILES; host?: string }): Promise<Link>;
