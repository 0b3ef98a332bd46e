import { resolve } from 'node:path';
import { runAgent } from '@loalang/edge-agent';
import { parse } from './util.js';

export async function run(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' } });
  if (!values.config) {
    process.stderr.write('usage: loalang agent --config FILE\n');
    return 2;
  }
  await runAgent(resolve(String(values.config)));
  return 0;
}
