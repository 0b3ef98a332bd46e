import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CLI } from './support.js';

describe('loalang CLI', () => {
  // How fast it answers is measured in bench/cli-startup, not asserted here.
  it('answers --help', () => {
    const r = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('loalang server');
    expect(r.stdout).toContain('loalang demo');
  });

  it('runs as the README starts it, `npx loalang` from the project folder', () => {
    const r = spawnSync('npx', ['--no-install', 'loalang', '--help'], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });
    expect(r.stderr).not.toContain('Permission denied');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('loalang demo');
  });

  it('names an unknown command in both languages and exits 2', () => {
    const r = spawnSync(process.execPath, [CLI, 'fly'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Unknown command "fly"');
    expect(r.stderr).toContain('Lệnh không hợp lệ');
  });

  it('answers --help after a command, and names an unknown option in both languages', () => {
    const help = spawnSync(process.execPath, [CLI, 'device', 'add', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('loalang device add --name NAME');
    const bad = spawnSync(process.execPath, [CLI, 'server', '--bogus'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("Unknown option '--bogus'");
    expect(bad.stderr).toContain('tùy chọn không hợp lệ');
  });

  it('refuses a bad port with a clear message', () => {
    const r = spawnSync(process.execPath, [CLI, 'server', '--http-port', 'abc'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--http-port must be a whole number');
  });
});
