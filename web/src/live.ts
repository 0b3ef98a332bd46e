/**
 * One live connection per signed-in tab (GET /events): pages subscribe to what they show, and
 * the header shows whether the stream is up. No page polls.
 */
import { createContext } from 'preact';
import { useContext, useEffect, useRef } from 'preact/hooks';
import type { Alarm, Alert, CommandRecord, Device, Rollout } from './api.js';

export interface LiveEvents {
  devices: Device[];
  alarm: { type: 'raised' | 'cleared'; alarm: Alarm };
  command: CommandRecord & { deviceId: string };
  alert: Alert;
  /** A rollout whose state, wave or devices changed (at most once a second each). */
  rollout: Rollout;
}
type Handler = <K extends keyof LiveEvents>(event: K, data: LiveEvents[K]) => void;

export class Live {
  private readonly handlers = new Set<Handler>();

  dispatch(event: string, data: unknown): void {
    for (const h of this.handlers) (h as (e: string, d: unknown) => void)(event, data);
  }

  subscribe(handler: Handler): () => void {
    this.handlers.add(handler);
    return () => void this.handlers.delete(handler);
  }
}

export const LiveContext = createContext<Live | null>(null);

/** Calls `on` for each live event while the component is mounted (always its latest version). */
export function useLive(on: Handler): void {
  const live = useContext(LiveContext);
  const latest = useRef(on);
  latest.current = on;
  useEffect(() => live?.subscribe((e, d) => latest.current(e, d)), [live]);
}

/** An alert (or a rollout) from a live event put into a newest-first list (replacing its older state). */
export function upsertNewest<T extends { id: string; createdAt: string }>(list: T[], item: T): T[] {
  return [item, ...list.filter((a) => a.id !== item.id)].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/** Devices updated in place from `devices` events. */
export function mergeDevices(list: Device[], changed: Device[]): Device[] {
  const byId = new Map(changed.map((d) => [d.id, d]));
  return list.map((d) => byId.get(d.id) ?? d);
}
