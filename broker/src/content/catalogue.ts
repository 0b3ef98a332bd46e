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
      programmeContent: (deviceId: string) => Set<string>;
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

  list(caller: Caller, kinds: readonly ContentKind[]): ContentItem[] {
    return this.d.content.list(kinds).filter((c) => canReadFromArea(this.d.areas, caller, c.areaId));
  }

  /** An item the caller may read (its own areas' and those above them). */
  visible(caller: Caller, contentId: string): ContentItem {
    const item = this.d.content.require(contentId);
    if (!canReadFromArea(this.d.areas, caller, item.areaId)) throw brokerError('LOA_ERR_OUT_OF_SCOPE');
    return item;
  }

  /** Removes an item of the caller's areas, refused while a schedule still plays it. */
  async remove(caller: Caller, contentId: string): Promise<void> {
    const item = this.d.content.require(contentId);
    assertInScope(caller, item.areaId);
    this.d.content.delete(item.id);
    await this.d.media.remove(item.id);
  }

  async deviceMayFetch(deviceId: string, contentId: string): Promise<boolean> {
    return this.d.programmeContent(deviceId).has(contentId) || (await this.d.alertContent(deviceId, contentId));
  }

  streams(caller: Caller): { allowedHosts: string[] | null; sources: StreamSource[] } {
    const hosts = this.d.streamHosts();
    return { allowedHosts: hosts && [...hosts], sources: this.d.streamSources.list().filter((s) => canReadFromArea(this.d.areas, caller, s.areaId)) };
  }

  addStream(caller: Caller, input: { name: string; url: string; areaId?: string | undefined }): StreamSource {
    const areaId = this.d.areas.require(input.areaId ?? caller.user.areaId).id;
    assertInScope(caller, areaId);
    const url = checkStreamUrl(input.url, this.d.streamHosts());
    return this.d.streamSources.create({ name: input.name, url, areaId, createdBy: caller.user.id });
  }

  removeStream(caller: Caller, sourceId: string): void {
    const source = this.d.streamSources.require(sourceId);
    assertInScope(caller, source.areaId);
    this.d.streamSources.delete(source.id);
  }
}
