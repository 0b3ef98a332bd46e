/** Remote commands from technicians: each answered with a CommandResult. */
import { mkdtemp, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AmplifierController } from '@loalang/firmware-bridge';
import type { Clock, Command, CommandResult, Logger } from '@loalang/protocol';
import type { Player } from './playback/player.js';

const run = promisify(execFile);

export interface CommandDeps {
  amplifier: AmplifierController;
  player: Player;
  ffmpeg: string;
  logger: Logger;
  /** The box's clock: results are stamped with it, and the test tone's wait runs on it. */
  clock: Clock;
  setVolume: (v: number) => void;
  volume: () => number;
  sync: () => void;
  restart: () => void;
  /** The agent's recent log lines, oldest first (empty when no buffer is kept). */
  logs: () => string[];
}

/** Logs travel in the command result; MQTT payloads stay well under the 1 MiB limit. */
const MAX_LOG_BYTES = 256 * 1024;

type Outcome = Omit<CommandResult, 'v' | 'commandId' | 'at'>;

export async function handleCommand(cmd: Command, d: CommandDeps): Promise<CommandResult> {
  const answer = (o: Outcome): CommandResult => ({ v: 1, commandId: cmd.commandId, at: new Date(d.clock.now()).toISOString(), ...o });
  if (cmd.expiresAt && Date.parse(cmd.expiresAt) < d.clock.now()) return answer({ ok: false, error: { code: 'expired', message: 'command expired before it arrived' } });
  try {
    return answer(await execute(cmd, d));
  } catch (err) {
    return answer({ ok: false, error: { code: (err as { code?: string }).code ?? 'failed', message: (err as Error).message.slice(0, 500) } });
  }
}

async function execute(cmd: Command, d: CommandDeps): Promise<Outcome> {
  switch (cmd.type) {
    case 'volume': {
      const v = Number(cmd.params?.['volume']);
      if (!Number.isInteger(v) || v < 0 || v > 100) return { ok: false, error: { code: 'bad-params', message: 'params.volume must be an integer 0–100' } };
      d.setVolume(v);
      return { ok: true, result: { volume: v } };
    }
    case 'amp-test': {
      const { status, switched } = await d.player.testAmplifier();
      return { ok: status.power && status.faults.length === 0, result: { status, ...(switched ? {} : { inUse: true }) } };
    }
    case 'test-tone': {
      const seconds = Math.min(30, Math.max(1, Number(cmd.params?.['seconds'] ?? 3)));
      const dir = await mkdtemp(join(tmpdir(), 'loalang-tone-'));
      try {
        const file = join(dir, 'tone.wav');
        await run(d.ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=1000:duration=${seconds}`, '-ar', '48000', '-ac', '1', file]);
        const ampError = await d.player.warmUp();
        const play = { playId: `test-${cmd.commandId}`, scheduleId: 'test-tone', contentId: 'test-tone', sha256: '0'.repeat(64), url: '', durationMs: seconds * 1000, startAt: new Date(d.clock.now()).toISOString(), priority: 'normal' as const };
        const playing = d.player.run(play, file, d.volume(), ampError);
        // The whole chain: while the tone sounds, the board must say it is powered and drawing current.
        await new Promise<void>((r) => d.clock.setTimeout(r, Math.min(1000, seconds * 500)));
        const board = await d.amplifier.status().catch((err: unknown) => ({ error: (err as Error).message }));
        const report = await playing;
        const boardOk = 'power' in board && board.power && board.faults.length === 0;
        return { ok: report.status === 'completed' && !ampError && boardOk, result: { playedMs: report.playedMs, board, ...(ampError ? { ampError } : {}) } };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    case 'sync':
      d.sync();
      return { ok: true };
    case 'logs': {
      const wanted = Math.min(1000, Math.max(1, Number(cmd.params?.['lines'] ?? 200)));
      const lines: string[] = [];
      let bytes = 0;
      for (const line of d.logs().slice(-wanted).reverse()) {
        bytes += Buffer.byteLength(line) + 8;
        if (bytes > MAX_LOG_BYTES) break;
        lines.unshift(line);
      }
      return { ok: true, result: { lines, truncated: lines.length < Math.min(wanted, d.logs().length) } };
    }
    case 'restart':
      // Answer first; the supervisor (systemd Restart=always) starts us again. Real time, not the
      // clock: a grace for the answer to reach the network, unref'd so it never holds the process.
      setTimeout(d.restart, 500).unref();
      return { ok: true, result: { restarting: true } };
  }
}
