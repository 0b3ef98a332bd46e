/**
 * axe-core in a page of the console: the serious and critical problems it finds against WCAG 2 A
 * and AA, each as one line. The checker is injected as a script, which the console's CSP rightly
 * forbids: open the page with `bypassCSP: true`, for the audit only.
 */
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

type Violation = { id: string; impact: string | null; help: string; nodes: { target: string[] }[] };

/** `where: rule (impact) help: the first three elements` for each serious or critical violation. */
export async function seriousViolations(page: Page, where: string): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const violations = (await page.evaluate(async () => {
    const g = globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: unknown[] }> }; document: unknown };
    return (await g.axe.run(g.document, { runOnly: ['wcag2a', 'wcag2aa'] })).violations;
  })) as Violation[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${where}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}
