/**
 * What the box itself can tell about its health: load, memory, CPU temperature and the modem.
 * Each reader returns nothing when the fact cannot be read here; nothing is invented.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem } from 'node:os';

export interface HostHealth {
  cpuLoad1: number;
  cpuCount: number;
  memUsedBytes: number;
  memTotalBytes: number;
  agentRssBytes: number;
  cpuTemperatureC?: number;
  network?: { type: string; signalPercent?: number; operator?: string };
}

/** The first thermal zone, in °C (the kernel reports millidegrees). */
export async function readCpuTemperature(path = '/sys/class/thermal/thermal_zone0/temp'): Promise<number | undefined> {
  try {
    const milli = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(milli) && milli > -50_000 && milli < 150_000 ? Math.round(milli / 100) / 10 : undefined;
  } catch {
    return undefined;
  }
}

type MmcliModem = { modem?: { generic?: { 'access-technologies'?: string[]; 'signal-quality'?: { value?: string } }; '3gpp'?: { 'operator-name'?: string } } };

/** Parses `mmcli -J -m any` output; undefined when it names no technology. */
export function parseMmcli(json: string): HostHealth['network'] {
  let m: MmcliModem;
  try {
    m = JSON.parse(json) as MmcliModem;
  } catch {
    return undefined;
  }
  const tech = m.modem?.generic?.['access-technologies']?.[0];
  if (!tech || tech === '--') return undefined;
  const signal = Number(m.modem?.generic?.['signal-quality']?.value);
  const operator = m.modem?.['3gpp']?.['operator-name'];
  return {
    type: tech.slice(0, 32),
    ...(Number.isInteger(signal) && signal >= 0 && signal <= 100 ? { signalPercent: signal } : {}),
    ...(operator && operator !== '--' ? { operator: operator.slice(0, 64) } : {}),
  };
}

/** The modem as ModemManager sees it, when `mmcli` is installed and a modem answers. */
export function readModem(mmcli = 'mmcli', timeoutMs = 3000): Promise<HostHealth['network']> {
  return new Promise((resolve) => {
    execFile(mmcli, ['-J', '-m', 'any'], { timeout: timeoutMs, maxBuffer: 256 * 1024 }, (err, stdout) => resolve(err ? undefined : parseMmcli(stdout)));
  });
}

export async function readHostHealth(): Promise<HostHealth> {
  const [temp, network] = await Promise.all([readCpuTemperature(), readModem()]);
  const total = totalmem();
  return {
    cpuLoad1: Math.round(loadavg()[0]! * 100) / 100,
    cpuCount: cpus().length || 1,
    memUsedBytes: total - freemem(),
    memTotalBytes: total,
    agentRssBytes: process.memoryUsage().rss,
    ...(temp !== undefined ? { cpuTemperatureC: temp } : {}),
    ...(network ? { network } : {}),
  };
}
