import { runAgentCommand } from '@loalang/edge-agent';

export function run(args: string[]): Promise<number> {
  return runAgentCommand(args);
}
