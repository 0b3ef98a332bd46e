/**
 * The shape of the code (issue 15): no import cycles inside a package's sources, and no package
 * reaching into another's files (only `@loalang/<package>` itself, which is its index). Read from
 * the sources as text: every static and dynamic relative import and every `@loalang/…` import,
 * type-only ones included. The shared test helpers (`test-kit`, `@loalang/test-kit`) obey the same
 * rules, and no product package imports them or depends on them.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['protocol', 'firmware-bridge', 'edge-agent', 'broker', 'console', 'cli', 'web'];
/** Helpers for tests only; a package like the others, but never a product package's import. */
const TEST_KIT = 'test-kit';

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (/\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Specifiers a file imports (type-only imports too: a contract and its implementations must not import each other). */
function imports(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => m[1] ?? m[2]).filter((s): s is string => Boolean(s));
}

function resolveRelative(from: string, spec: string): string | null {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), base.replace(/\.js$/, '.tsx'), `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return null;
}

const packageOf = (file: string) => relative(ROOT, file).split('/')[0]!;

/** `@loalang/<pkg>/<sub>` that `<pkg>` publishes as an entry point of its own (`exports` in its package.json). */
function publishedEntry(spec: string): boolean {
  const [, pkg, sub] = /^@loalang\/([^/]+)\/(.+)$/.exec(spec)!;
  const manifest = join(ROOT, pkg!, 'package.json');
  if (!existsSync(manifest)) return false;
  const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: Record<string, unknown> }).exports ?? {};
  return Object.hasOwn(exports, `./${sub}`);
}

describe('import graph', () => {
  const files = [...PACKAGES, TEST_KIT].flatMap((p) => (existsSync(join(ROOT, p, 'src')) ? sources(join(ROOT, p, 'src')) : []));

  it('no product package imports the test kit, nor lists it among its dependencies', () => {
    const users: string[] = [];
    for (const file of files) {
      if (packageOf(file) === TEST_KIT) continue;
      for (const spec of imports(file)) if (spec === `@loalang/${TEST_KIT}` || spec.startsWith(`@loalang/${TEST_KIT}/`)) users.push(`${relative(ROOT, file)} → ${spec}`);
    }
    for (const p of PACKAGES) {
      const manifest = JSON.parse(readFileSync(join(ROOT, p, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
      for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies']) {
        if (manifest[field]?.[`@loalang/${TEST_KIT}`]) users.push(`${p}/package.json ${field}`);
      }
    }
    expect(users).toEqual([]);
  });

  it('no package imports another package\'s files, only its entry points', () => {
    const reaching: string[] = [];
    for (const file of files) {
      for (const spec of imports(file)) {
        const own = packageOf(file);
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec);
          if (packageOf(target) !== own) reaching.push(`${relative(ROOT, file)} → ${spec}`);
        } else if (/^@loalang\/[^/]+\/.+/.test(spec) && !publishedEntry(spec)) reaching.push(`${relative(ROOT, file)} → ${spec}`);
      }
    }
    expect(reaching).toEqual([]);
  });

  it('no import cycle inside a package, type imports included', () => {
    const graph = new Map<string, string[]>();
    for (const file of files) {
      graph.set(
        file,
        imports(file)
          .filter((spec) => spec.startsWith('.'))
          .map((spec) => resolveRelative(file, spec))
          .filter((t): t is string => t !== null),
      );
    }
    // Depth-first search; a back edge closes a cycle.
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].map((f) => relative(ROOT, f)).join(' → '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});
