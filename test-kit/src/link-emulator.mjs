// A link emulator (issues 18 and 19): a userspace TCP proxy between a client (an agent) and a
// server that makes the link behave like a 4G one, because kernel traffic shaping (tc netem) is
// not available on these machines. In plain JavaScript so that the benchmarks (bench/*.mjs) and
// the tests use the same code. Types: link-emulator.d.mts.
//
// Each direction is a queue of segments (at most 1,400 bytes, as on the wire) that leave at the
// link's rate and arrive `delayMs` ± `jitterMs` later, never out of order (TCP delivers a byte
// stream in order; jitter shows as uneven gaps). A lost packet on TCP is a stall while it is
// resent: `stallChance` per segment holds the queue for `stallMs`. Faults:
// - `cut()`: every connection through the link is reset, and new ones are reset at once, until
//   `restore()` (a cell dropped, the modem re-attaching);
// - `halfOpen()`: connections stay open but nothing gets through, either way, and new ones are
//   accepted and hear nothing (a NAT mapping lost, a silent radio): the endpoints find out only
//   by their own keepalives. On `restore()` those connections are reset, as their peers, which
//   gave up on them, would answer the first packet that gets through;
// - `stall(ms)`: everything in flight waits `ms`, then goes on (nothing is lost).
// One link per agent: each has its own port, its own profile and its own script.
import { createServer, connect } from 'node:net';

const SEGMENT = 1400;
/** Bytes a direction may hold before it stops reading its sender (TCP's window, roughly). */
const HIGH_WATER = 1 << 20;

export const PROFILES = {
  /** No delay, no limit. */
  perfect: { delayMs: 0, jitterMs: 0, kbps: 0, stallChance: 0, stallMs: 0 },
  /** A rural 4G cell on a pole: 60 ms each way ± 30, 2 Mbit/s, a 200 ms stall for one segment in 200. */
  rural4g: { delayMs: 60, jitterMs: 30, kbps: 2000, stallChance: 0.005, stallMs: 200 },
  /** A poor one: 150 ms ± 80, 256 kbit/s, a 600 ms stall for one segment in 50. */
  poor4g: { delayMs: 150, jitterMs: 80, kbps: 256, stallChance: 0.02, stallMs: 600 },
};

function normalise(profile) {
  const p = { ...PROFILES.perfect, ...profile };
  for (const [k, v] of Object.entries(p)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`link profile: ${k} must be a number ≥ 0 (got ${v})`);
  }
  if (p.stallChance > 1) throw new RangeError('link profile: stallChance is a probability (0 to 1)');
  return p;
}

/** One direction of one connection: segments leave at the link's rate and arrive in order. */
class Direction {
  /** `counter`: the link's counter of bytes delivered this way ('bytesUp' or 'bytesDown'). */
  constructor(link, from, to, counter) {
    this.link = link;
    this.from = from;
    this.to = to;
    this.counter = counter;
    this.queue = []; // { at, data }
    this.queuedBytes = 0;
    this.wireFreeAt = 0; // when the link has sent what it holds (bandwidth)
    this.lastAt = 0; // the last segment's arrival (order)
    this.timer = null;
    this.paused = false;
    this.stalledUntil = 0;
  }

  push(chunk) {
    const link = this.link;
    if (link.state === 'half-open') {
      link.counters.dropped += chunk.length;
      return;
    }
    const p = link.profile;
    const now = Date.now();
    for (let off = 0; off < chunk.length; off += SEGMENT) {
      const data = chunk.subarray(off, Math.min(chunk.length, off + SEGMENT));
      const sendAt = Math.max(now, this.wireFreeAt);
      this.wireFreeAt = sendAt + (p.kbps > 0 ? (data.length * 8) / p.kbps : 0);
      let at = this.wireFreeAt + p.delayMs + (p.jitterMs > 0 ? (Math.random() * 2 - 1) * p.jitterMs : 0);
      if (p.stallChance > 0 && Math.random() < p.stallChance) {
        at += p.stallMs;
        link.counters.stalls++;
      }
      at = Math.max(at, this.lastAt, this.stalledUntil);
      this.lastAt = at;
      this.queue.push({ at, data });
      this.queuedBytes += data.length;
    }
    if (this.queuedBytes > HIGH_WATER && !this.paused) {
      this.paused = true;
      this.from.pause();
    }
    this.arm();
  }

  /** Everything queued waits `ms` more (from now), in order. */
  stall(ms) {
    const until = Date.now() + ms;
    this.stalledUntil = Math.max(this.stalledUntil, until);
    for (const s of this.queue) s.at = Math.max(s.at, until);
    this.lastAt = Math.max(this.lastAt, until);
    this.arm(true);
  }

  arm(again = false) {
    if (this.timer && !again) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const head = this.queue[0];
    if (!head) return;
    this.timer = setTimeout(() => this.deliver(), Math.max(0, head.at - Date.now()));
  }

  deliver() {
    this.timer = null;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0].at <= now) {
      const { data } = this.queue.shift();
      this.queuedBytes -= data.length;
      if (this.link.state === 'half-open') {
        this.link.counters.dropped += data.length;
        continue;
      }
      if (!this.to.destroyed) this.to.write(data);
      this.link.counters[this.counter] += data.length;
    }
    if (this.paused && this.queuedBytes < HIGH_WATER / 2) {
      this.paused = false;
      this.from.resume();
    }
    this.arm();
  }

  clear() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.queuedBytes = 0;
  }
}

/**
 * Starts a link in front of `target` ({ host, port }); clients connect to `link.port` on
 * 127.0.0.1 instead. `profile`: a name of PROFILES or { delayMs, jitterMs, kbps, stallChance, stallMs }.
 */
export async function startLink({ target, profile = 'perfect', host = '127.0.0.1' }) {
  const conns = new Set();
  const link = {
    profile: normalise(typeof profile === 'string' ? PROFILES[profile] : profile),
    state: 'up', // 'up' | 'cut' | 'half-open'
    counters: { connections: 0, refused: 0, bytesUp: 0, bytesDown: 0, dropped: 0, stalls: 0 },
  };
  const timers = new Set();

  // No Nagle on the emulator's own sockets: a small write (a clock probe's answer) must not wait
  // for the ACK of the one before it on loopback; the delays are the profile's.
  const server = createServer({ pauseOnConnect: false, noDelay: true }, (client) => {
    link.counters.connections++;
    client.on('error', () => undefined);
    if (link.state === 'cut') {
      link.counters.refused++;
      client.resetAndDestroy();
      return;
    }
    if (link.state === 'half-open') {
      // Accepted, and then silence: what it sends goes nowhere, and nothing comes back.
      const conn = { client, upstream: null, up: null, down: null };
      conns.add(conn);
      client.on('data', (d) => (link.counters.dropped += d.length));
      client.on('close', () => conns.delete(conn));
      return;
    }
    const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port, noDelay: true });
    upstream.on('error', () => undefined);
    const conn = { client, upstream, up: new Direction(link, client, upstream, 'bytesUp'), down: new Direction(link, upstream, client, 'bytesDown') };
    conns.add(conn);
    client.on('data', (d) => conn.up.push(d));
    upstream.on('data', (d) => conn.down.push(d));
    const close = (which) => () => {
      if (link.state === 'half-open') return; // nothing gets through, a FIN neither
      // The other side is told once what was in flight has arrived (or at once when cut).
      const other = which === client ? upstream : client;
      const dir = which === client ? conn.up : conn.down;
      const end = () => (dir.queue.length > 0 ? setTimeout(end, 5) : other.end());
      end();
    };
    client.on('end', close(client));
    upstream.on('end', close(upstream));
    const gone = () => {
      if (!conns.has(conn)) return;
      if (client.destroyed && upstream.destroyed) {
        conns.delete(conn);
        conn.up.clear();
        conn.down.clear();
      }
    };
    client.on('close', () => {
      if (!upstream.destroyed && client.errored && link.state !== 'half-open') upstream.resetAndDestroy();
      gone();
    });
    upstream.on('close', () => {
      if (!client.destroyed && upstream.errored && link.state !== 'half-open') client.resetAndDestroy();
      gone();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address();

  const resetAll = () => {
    for (const conn of conns) {
      conn.up?.clear();
      conn.down?.clear();
      conn.client.resetAndDestroy();
      conn.upstream?.resetAndDestroy();
    }
    conns.clear();
  };

  const api = {
    port,
    host,
    /** `<scheme>://host:port` of the link, e.g. url('mqtt'). */
    url: (scheme) => `${scheme}://${host}:${port}`,
    get state() {
      return link.state;
    },
    get profile() {
      return { ...link.profile };
    },
    /** Changes the link's behaviour from now on (what is already in flight keeps its times). */
    set(profile) {
      link.profile = normalise(typeof profile === 'string' ? PROFILES[profile] : { ...link.profile, ...profile });
    },
    cut() {
      link.state = 'cut';
      resetAll();
    },
    halfOpen() {
      link.state = 'half-open';
      for (const conn of conns) {
        conn.up?.clear();
        conn.down?.clear();
      }
    },
    stall(ms) {
      for (const conn of conns) {
        conn.up?.stall(ms);
        conn.down?.stall(ms);
      }
    },
    restore() {
      if (link.state === 'half-open') resetAll();
      link.state = 'up';
    },
    /**
     * Runs a script of steps, each `afterMs` after the previous: { afterMs, do: 'cut' | 'halfOpen' |
     * 'restore' | 'stall', ms? } or { afterMs, profile }. Resolves when the last step ran.
     */
    run(steps) {
      return steps.reduce(
        (previous, step) =>
          previous.then(
            () =>
              new Promise((resolve) => {
                const t = setTimeout(() => {
                  timers.delete(t);
                  if (step.profile) api.set(step.profile);
                  else if (step.do === 'stall') api.stall(step.ms ?? 1000);
                  else if (step.do) api[step.do]();
                  resolve();
                }, step.afterMs ?? 0);
                timers.add(t);
              }),
          ),
        Promise.resolve(),
      );
    },
    /** Connections made, refused while cut, bytes delivered each way, bytes dropped, stalls drawn. */
    stats() {
      return { ...link.counters, open: conns.size };
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      resetAll();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}
