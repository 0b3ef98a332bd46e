/**
 * The Node.js versions package.json `engines` promises (README, "Requirements") must be ones
 * every installed package accepts too: a dependency that moves to a newer Node (as
 * content-disposition 3 and cookie 2 did, issue 14) fails here on any machine, with the package
 * that needs a pin (npm `overrides`) or a note. Reads node_modules; runs on whatever Node runs it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { sqliteDriver } from '@loalang/protocol';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Manifest {
  name?: string;
  version?: string;
  engines?: { node?: unknown };
  workspaces?: string[];
  optionalDependencies?: Record<string, string>;
}
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Manifest;
const root = read(join(ROOT, 'package.json'));
const declared = String(root.engines?.node ?? '');

/** Every package folder under a node_modules folder, nested ones included (symlinked workspaces are not followed). */
function installed(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (e.name.startsWith('@')) {
      installed(path, out);
      continue;
    }
    if (existsSync(join(path, 'package.json'))) out.push(path);
    installed(join(path, 'node_modules'), out);
  }
  return out;
}

describe('supported Node.js versions', () => {
  it('package.json declares the LTS lines the README lists', () => {
    expect(semver.validRange(declared), `engines.node "${declared}"`).toBeTruthy();
    for (const line of ['20.19.0', '22.13.0', '24.0.0']) expect(semver.satisfies(line, declared), `${line} in "${declared}"`).toBe(true);
  });

  it('no installed package requires a Node.js version the project does not', () => {
    const folders = [join(ROOT, 'node_modules'), ...(root.workspaces ?? []).map((w) => join(ROOT, w, 'node_modules'))].flatMap((d) => installed(d));
    expect(folders.length).toBeGreaterThan(100);
    // Optional dependencies whose engines leave out part of the range are skipped there by npm
    // (engine-strict in .npmrc), not installed with a warning: better-sqlite3-napi on Node 20.
    const optional = new Set([root, ...(root.workspaces ?? []).map((w) => read(join(ROOT, w, 'package.json')))].flatMap((m) => Object.keys(m.optionalDependencies ?? {})));
    const narrower: string[] = [];
    for (const folder of folders) {
      if (optional.has(folder.split(/node_modules[\\/]/).at(-1)!)) continue;
      const pkg = read(join(folder, 'package.json'));
      const needs = pkg.engines?.node;
      if (typeof needs !== 'string' || !semver.validRange(needs)) continue;
      if (!semver.subset(declared, needs)) narrower.push(`${pkg.name}@${pkg.version} needs node "${needs}" (${folder.slice(ROOT.length)})`);
    }
    expect(narrower, `packages whose engines.node does not cover "${declared}": pin them (package.json "overrides") or narrow engines`).toEqual([]);
  });

  it('optional packages are skipped, not installed with a warning, where their engines leave this Node out', () => {
    expect(readFileSync(join(ROOT, '.npmrc'), 'utf8')).toMatch(/^engine-strict=true$/m);
  });

  it('SQLite runs on the binding for this Node: Node-API better-sqlite3 13 from Node 22, the compiled 12 on Node 20', () => {
    const { name, open } = sqliteDriver();
    const major = Number(process.versions.node.split('.')[0]);
    const napi = existsSync(join(ROOT, 'node_modules', 'better-sqlite3-napi', 'package.json'));
    expect(name).toBe(major >= 22 && napi ? 'better-sqlite3-napi' : 'better-sqlite3');
    if (major < 22) expect(napi, 'npm must skip better-sqlite3 13 on Node 20 (it crashes there)').toBe(false);
    const db = new open(':memory:');
    expect(db.prepare('SELECT sqlite_version() AS v').get()).toMatchObject({ v: expect.any(String) });
    db.close();
  });
});
