/**
 * Who may see, remove and fetch what in the library, and the named live sources: content made
 * higher up the tree (a province bulletin) is read below it, changed only inside one's scope;
 * a device fetches only what its programme or an active alert names.
 */
import { assertInScope, canReadFromArea, type Caller } from '../accounts/scope.js';
import type { AreaRepo } from '../areas/areas.js';
import { brokerError } from '../errors.js';
import type { MediaPipeline } from '../media/index.js';
import { checkStreamUrl } from '../schedules/items.js';
import type { ContentItem, ContentKind, ContentRepo } from './content-repo.js';
import type { StreamSource, StreamSourceRepo } from './stream-sources.js';

export class ContentCatalogue {
  constructor(
    private readonly d: {
      areas: Pick<AreaRepo, 'require' | 'ancestorIds'>;
      content: ContentRepo;
      media: Pick<MediaPipeline, 'remove'>;
      streamSources: StreamSourceRepo;
      /** Hosts live sources may be on; null: any http(s) host. */
      streamHosts: () => readonly string[] | null;
      /** Content the device's current programme names. */
      programmeContent: (deviceId: string) => Promise<Set<string>>;
      /** Whether an active alert sent to the device plays this content. */
      alertContent: (deviceId: string, contentId: string) => Promise<boolean>;
    },
  ) {}

  /** The area new content of the caller goes to: the one asked for (in scope), else the caller's own. */
  targetArea(caller: Caller, areaId: string | undefined): string {
    const id = areaId ?? caller.user.areaId;
    assertInScope(caller, id);
    return id;
  }

  async list(caller: Caller, kinds: readonly ContentKind[]): Promise<ContentItem[]> {
    const readable = await this.readableAreas(caller);
    return (await this.d.content.list(kinds)).filter((c) => readable.has(c.areaId));
  }

  /** The areas whose content the caller may read: their own subtree and the areas above it. */
  private async readableAreas(caller: Caller): Promise<Set<string>> {
    return new Set([...caller.scope, ...(await this.d.areas.ancestorIds(caller.user.areaId))]);
  }

  /** An item the caller may read (its own areas' and those above them). */
  async visible(caller: Caller, contentId: string): Promise<ContentItem> {
    const item = await this.d.content.require(contentId);
    if (!(await canReadFromArea(this.d.areas, caller, item.areaId))) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    return item;
  }

  /** Removes an item of the caller's areas, refused while a schedule still plays it. */
  async remove(caller: Caller, contentId: string): Promise<void> {
    const item = await this.d.content.require(contentId);
    assertInScope(caller, item.areaId);
    await this.d.content.delete(item.id);
    await this.d.media.remove(item.id);
  }

  async deviceMayFetch(deviceId: string, contentId: string): Promise<boolean> {
    return (await this.d.programmeContent(deviceId)).has(contentId) || (await this.d.alertContent(deviceId, contentId));
  }

  async streams(caller: Caller): Promise<{ allowedHosts: string[] | null; sources: StreamSource[] }> {
    const hosts = this.d.streamHosts();
    const readable = await this.readableAreas(caller);
    return { allowedHosts: hosts && [...hosts], sources: (await this.d.streamSources.list()).filter((s) => readable.has(s.areaId)) };
  }

  async addStream(caller: Caller, input: { name: string; url: string; areaId?: string | undefined }): Promise<StreamSource> {
    const areaId = (await this.d.areas.require(input.areaId ?? caller.user.areaId)).id;
    assertInScope(caller, areaId);
    const url = checkStreamUrl(input.url, this.d.streamHosts());
    return this.d.streamSources.create({ name: input.name, url, areaId, createdBy: caller.user.id });
  }

  async removeStream(caller: Caller, sourceId: string): Promise<void> {
    const source = await this.d.streamSources.require(sourceId);
    assertInScope(caller, source.areaId);
    await this.d.streamSources.delete(source.id);
  }
}
