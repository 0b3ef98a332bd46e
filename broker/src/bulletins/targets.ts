/**
 * A bulletin's administrative codes as areas of the caller's scope, and the one area whose
 * approval rule its schedule follows: the nearest area holding all of them (the commune itself
 * when it names one commune), so a commune's own rule (decision 0008) decides.
 */
import type { AreaRepo } from '../areas/areas.js';
import type { Caller } from '../accounts/scope.js';
import { brokerError } from '../errors.js';

export interface MatchedCodes {
  areaIds: string[];
  /** Codes that name no area in the caller's scope (unknown, or someone else's). */
  unmatched: string[];
}

export async function matchCodes(areas: Pick<AreaRepo, 'byGeocode'>, caller: Caller, codes: readonly string[]): Promise<MatchedCodes> {
  const wanted = [...new Set(codes.map((c) => c.trim()))];
  const inScope = (await areas.byGeocode(wanted)).filter((a) => caller.scope.has(a.id));
  const matched = new Set(inScope.flatMap((a) => a.geocodes.map((g) => g.toLowerCase())));
  const unmatched = wanted.filter((c) => !matched.has(c.toLowerCase()));
  if (inScope.length === 0) {
    throw brokerError('LOA_ERR_INVALID', {
      en: `no area in your scope has the codes ${wanted.join(', ')}`,
      vi: `không địa bàn nào trong phạm vi của bạn có mã ${wanted.join(', ')}`,
    }, { unmatchedCodes: unmatched });
  }
  return { areaIds: inScope.map((a) => a.id).sort(), unmatched };
}

/** The nearest area that holds every one of `areaIds` (each is in scope, so the caller's own area at worst). */
export async function commonArea(areas: Pick<AreaRepo, 'ancestorIds'>, caller: Caller, areaIds: readonly string[]): Promise<string> {
  const chains = await Promise.all(areaIds.map((id) => areas.ancestorIds(id)));
  const [first, ...rest] = chains;
  return first?.find((id) => caller.scope.has(id) && rest.every((c) => c.includes(id))) ?? caller.user.areaId;
}
