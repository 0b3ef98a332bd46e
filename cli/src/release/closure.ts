/**
 * What an agent release holds (issue 20): the agent's packages and their production
 * dependencies as installed here, each at the place Node's resolution will find it inside the
 * bundle's `app/node_modules`. Workspace packages (`@loalang/*`, symlinks to the repository's
 * folders) bring their `package.json` and built `dist/` only; npm packages come whole, less
 * what only building them needed.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

export interface BundledFile {
  /** Where it is now. */
  source: string;
  /** Its path under the bundle's `app/`, with `/`. */
  path: string;
}

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/**
 * Optional dependencies left out of a release: the box has Debian's ffmpeg (the install script
 * puts it there), and the npm-shipped one is 70 MB of another architecture's binary.
 */
export const LEFT_OUT = new Set(['@ffmpeg-installer/ffmpeg']);

/** Folders of npm packages a running agent never reads (sources and build trees of native modules). */
const BUILD_ONLY: Record<string, string[]> = { 'better-sqlite3': ['deps', 'src'], 'better-sqlite3-napi': ['deps', 'src'] };

/** The folder `name` resolves to from `fromDir`, as Node looks it up (nearest node_modules upwards). */
function resolvePackage(name: string, fromDir: string, root: string): string | null {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dirname(dir) === dir) return null;
  }
}

/** The package's place in the bundle: its path below the repository, a workspace folder as `node_modules/@loalang/<folder>`. */
function bundlePlace(linkPath: string, realDir: string, root: string): string {
  const rel = relative(root, linkPath).split(sep).join('/');
  if (rel.startsWith('node_modules/')) return rel;
  // Found inside a workspace's own node_modules: below that workspace's place.
  const [workspace, ...rest] = relative(root, realDir).split(sep);
  return ['node_modules/@loalang', workspace, ...rest].join('/');
}

function walk(dir: string, skip: (rel: string, isDir: boolean) => boolean, base = dir, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    const rel = relative(base, full).split(sep).join('/');
    if (entry.isSymbolicLink()) continue; // packages' .bin links and the like: nothing a bundle needs
    if (entry.isDirectory()) {
      if (!skip(rel, true)) walk(full, skip, base, out);
    } else if (entry.isFile() && !skip(rel, false)) out.push(rel);
  }
  return out;
}

/**
 * The files of `rootPackage` (a workspace package name, e.g. `@loalang/edge-agent`) and of every
 * package it needs at run time, from the repository at `root` (installed, built).
 */
export function agentClosure(root: string, rootPackage = '@loalang/edge-agent'): { files: BundledFile[]; packages: { name: string; version: string; place: string }[]; leftOut: string[] } {
  const files: BundledFile[] = [];
  const packages: { name: string; version: string; place: string }[] = [];
  const leftOut = new Set<string>();
  const seen = new Set<string>();
  const queue: { name: string; from: string; optional: boolean }[] = [{ name: rootPackage, from: root, optional: false }];
  while (queue.length) {
    const { name, from, optional } = queue.shift()!;
    if (LEFT_OUT.has(name)) {
      leftOut.add(name);
      continue;
    }
    const link = resolvePackage(name, from, root);
    if (!link) {
      if (optional) continue; // not installed on this platform or Node: npm skipped it
      throw new Error(`${name} (needed from ${relative(root, from) || '.'}) is not installed: run npm install first`);
    }
    const real = realpathSync(link);
    if (seen.has(real)) continue;
    seen.add(real);
    const pkg = JSON.parse(readFileSync(join(real, 'package.json'), 'utf8')) as PackageJson;
    const place = bundlePlace(link, real, root);
    packages.push({ name: pkg.name, version: pkg.version, place });
    const workspace = !link.startsWith(real) && !relative(root, real).startsWith('node_modules');
    const buildOnly = BUILD_ONLY[pkg.name] ?? [];
    const compiled = existsSync(join(real, 'binding.gyp'));
    const skip = workspace
      ? (rel: string, isDir: boolean) => (isDir ? !(rel === 'dist' || rel.startsWith('dist/')) : rel !== 'package.json' && !(rel.startsWith('dist/') && rel.endsWith('.js')))
      : (rel: string, isDir: boolean) =>
          rel === 'node_modules' ||
          (isDir && buildOnly.includes(rel)) ||
          // A compiled module's build tree (node-gyp): only the module itself is loaded.
          (compiled && rel.startsWith('build/') && !isDir && !rel.endsWith('.node'));
    for (const rel of walk(real, skip)) files.push({ source: join(real, rel), path: `${place}/${rel}` });
    for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: real, optional: false });
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name: dep, from: real, optional: true });
  }
  return { files: files.filter((f) => statSync(f.source).isFile()), packages, leftOut: [...leftOut] };
}
