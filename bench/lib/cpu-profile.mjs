// A CPU profile of this process over one stretch of a bench (the server runs in the bench's
// process in some of them), through an inspector session: `const stop = await startProfile()`,
// then `await stop(file)` writes a .cpuprofile (open it in Chrome DevTools or speedscope) and
// returns the self time per function and per package (or our own package), heaviest first.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';

export async function startProfile() {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return async (file) => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    writeFileSync(file, JSON.stringify(profile));
    return selfTimes(profile);
  };
}

/**
 * Self time (ms) per function and file, heaviest first, with its share of the samples. The samples
 * up to the last one inside startProfile (the inspector starting the profiler: 150 ms on this
 * machine) are left out: they are the profiler's, not the bench's.
 */
function selfTimes(profile) {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const inStart = (id) => {
    for (let n = id; n !== undefined; n = parentOf.get(n)) if (byNode.get(n).callFrame.functionName === 'startProfile') return true;
    return false;
  };
  const first = profile.samples.findLastIndex(inStart) + 1;
  const counts = new Map();
  const dt = profile.timeDeltas ?? [];
  profile.samples.forEach((id, i) => i >= first && counts.set(id, (counts.get(id) ?? 0) + (dt[i] ?? 0)));
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const bySite = new Map();
  const byPackage = new Map();
  for (const [id, us] of counts) {
    const { functionName, url, lineNumber } = byNode.get(id).callFrame;
    const file = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(\w[\w-]*\/(?:dist|src)\/)/, '$1');
    const site = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    bySite.set(site, (bySite.get(site) ?? 0) + us);
    // node:… for Node's own code; (garbage collector), (idle), (program) as V8 names them.
    const pkg = !url ? functionName : url.startsWith('node:') ? 'node' : file.startsWith('@') ? file.split('/').slice(0, 2).join('/') : file.split('/')[0];
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  }
  const rank = (m) => [...m].sort((a, b) => b[1] - a[1]).map(([site, us]) => ({ site, ms: us / 1000, share: us / total }));
  return { functions: rank(bySite), packages: rank(byPackage) };
}
