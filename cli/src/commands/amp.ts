/** `loalang amp`: a technician talks to the amplifier board on a serial port, or simulates one. */
import { intOption, parse, waitForSignal } from './util.js';
import { createInterface } from 'node:readline';
import { BoardDriver, BoardSimulator, NodeSerialLink, openAmplifier, type AmpStatus } from '@loalang/firmware-bridge';

const FAULT_VI: Record<string, string> = {
  'over-temperature': 'quá nhiệt',
  'speaker-line': 'lỗi đường dây loa',
  'mains-lost': 'mất điện lưới',
  tamper: 'mở tủ trái phép',
};

const NA = 'không đo được / not measured';

export function formatStatus(s: AmpStatus): string {
  const faults = s.faults.length ? s.faults.map((f) => `${FAULT_VI[f] ?? f} / ${f}`).join(', ') : 'không / none';
  return [
    `Nguồn / Power:            ${s.power ? 'BẬT / ON' : 'TẮT / OFF'}`,
    `Âm lượng / Volume:        ${s.volumeDb !== undefined ? `${s.volumeDb} dB` : NA}${s.muted ? ' (tắt tiếng / muted)' : ''}`,
    `Nhiệt độ / Temperature:   ${s.temperatureC !== undefined ? `${s.temperatureC} °C` : NA}`,
    `Dòng ra / Output current: ${s.currentMa !== undefined ? `${s.currentMa} mA` : NA}`,
    `Lỗi / Faults:             ${faults}`,
    `Firmware:                 ${s.firmwareVersion ?? NA}${s.uptimeSec !== undefined ? `, uptime ${s.uptimeSec} s` : ''}`,
  ].join('\n');
}

/** Faults a technician can switch on the simulated board from its terminal. */
const SIMULATED_FAULTS: Record<string, 'overTemperature' | 'speakerLineFault' | 'mainsLost' | 'tamper'> = {
  'over-temperature': 'overTemperature',
  'speaker-line': 'speakerLineFault',
  'mains-lost': 'mainsLost',
  tamper: 'tamper',
};

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    port: { type: 'string' },
    baud: { type: 'string' },
    driver: { type: 'string', default: 'loalang' },
  });
  const action = positionals[0];
  if (!values.port || !['status', 'on', 'off', 'test', 'simulate'].includes(action ?? '')) {
    process.stderr.write('usage: loalang amp status|on|off|test|simulate --port PATH [--baud N] [--driver loalang|modbus-relay]\n');
    return 2;
  }
  const driver = String(values.driver) as 'loalang' | 'modbus-relay';
  // Relay boards ship at 9600 8N1; our board defaults to 115200.
  const baudRate = values.baud ? intOption(values.baud, 'baud') : driver === 'modbus-relay' ? 9600 : 115200;
  if (action === 'simulate') {
    const sim = new BoardSimulator(new NodeSerialLink(String(values.port), baudRate));
    await sim.start();
    process.stdout.write(
      `Bo mạch giả lập trên ${values.port} / Simulated board on ${values.port}. Ctrl+C để dừng / to stop.\n` +
        `Gõ lỗi để giả lập / type a fault to simulate it: ${Object.keys(SIMULATED_FAULTS).join(', ')} + on|off\n`,
    );
    const lines = createInterface({ input: process.stdin, terminal: false });
    lines.on('line', (line) => {
      const [name, state] = line.trim().split(/\s+/);
      const key = name ? SIMULATED_FAULTS[name] : undefined;
      if (!key || (state !== 'on' && state !== 'off')) {
        if (line.trim()) process.stdout.write(`? ${line.trim()} — ví dụ / e.g. "over-temperature on"\n`);
        return;
      }
      sim.inject({ [key]: state === 'on' });
      process.stdout.write(`${name}: ${state}\n`);
    });
    await waitForSignal();
    lines.close();
    await sim.stop();
    return 0;
  }
  const amp = await openAmplifier({ path: String(values.port), baudRate, driver });
  await amp.start();
  try {
    if (amp instanceof BoardDriver) await amp.status(); // fails fast with a clear error if the board is silent
    if (action === 'on') await amp.powerOn();
    if (action === 'off') await amp.powerOff();
    if (action === 'test') {
      await amp.powerOn();
      const s = await amp.status();
      await amp.powerOff();
      process.stdout.write(`${formatStatus(s)}\nKiểm tra / Test: ${s.power && s.faults.length === 0 ? 'ĐẠT / PASS' : 'KHÔNG ĐẠT / FAIL'}\n`);
      return s.power && s.faults.length === 0 ? 0 : 1;
    }
    process.stdout.write(`${formatStatus(await amp.status())}\n`);
    return 0;
  } finally {
    await amp.stop();
  }
}
