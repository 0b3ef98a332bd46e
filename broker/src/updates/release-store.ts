/**
 * Agent release bundles on the server (issue 20): an upload is checked before it is kept — signed
 * by one of the release keys the server is given (LOALANG_RELEASE_KEYS), with a valid manifest,
 * not a version and architecture already held — then kept as `<dir>/<sha256>.tar.gz` (on a
 * cluster, a folder every node reads, as the content folder is). The server never holds the
 * private release key: it only refuses what nobody trusted signed.
 */
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { newId, parseReleaseManifest, parseReleaseSignature, readBundleHead, releaseSignedBy, type Clock, type ServerKey } from '@loalang/protocol';
import { brokerError } from '../errors.js';
import { sha256File } from '../media/pipeline.js';
import type { Release, RolloutRepo } from './rollout-repo.js';

export class ReleaseStore {
  constructor(
    private readonly d: {
      repo: RolloutRepo;
      dir: string;
      /** The release keys' public halves; none: uploads are refused, saying how to set them. */
      keys: readonly ServerKey[];
      clock: Clock;
    },
  ) {}

  get keys(): readonly ServerKey[] {
    return this.d.keys;
  }

  /** Where an upload is written before `add` (the same folder, so keeping it is a rename). */
  uploadPath(): string {
    mkdirSync(this.d.dir, { recursive: true });
    return join(this.d.dir, `.upload-${newId()}`);
  }

  pathOf(release: Pick<Release, 'sha256'>): string {
    return join(this.d.dir, `${release.sha256}.tar.gz`);
  }

  /** Checks the bundle at `file` (an upload's temporary file, moved on success, removed on refusal) and keeps it. */
  async add(file: string, uploadedBy: string | null): Promise<Release> {
    try {
      return await this.check(file, uploadedBy);
    } finally {
      rmSync(file, { force: true });
    }
  }

  private async check(file: string, uploadedBy: string | null): Promise<Release> {
    const invalid = (en: string, vi: string) => brokerError('LOA_ERR_INVALID', { en, vi });
    if (this.d.keys.length === 0) {
      throw invalid('this server has no release keys: set LOALANG_RELEASE_KEYS to the public half of your release key (loalang release keygen)', 'máy chủ chưa có khóa phát hành: hãy đặt LOALANG_RELEASE_KEYS là nửa công khai của khóa phát hành (loalang release keygen)');
    }
    let head;
    try {
      head = await readBundleHead(file);
    } catch (err) {
      throw invalid(`not a release bundle (a tar.gz from loalang release pack): ${(err as Error).message}`, 'không phải gói phát hành (tệp tar.gz do loalang release pack tạo)');
    }
    if (!head.manifest || !head.signature) throw invalid('the bundle has no manifest.json or manifest.sig', 'gói thiếu manifest.json hoặc manifest.sig');
    const signature = parseReleaseSignature(head.signature);
    if (!signature.ok || !releaseSignedBy(head.manifest, signature.value, this.d.keys)) {
      throw invalid(`not signed by a release key this server knows (${this.d.keys.map((k) => k.kid).join(', ')})`, 'không được ký bằng khóa phát hành mà máy chủ biết');
    }
    const manifest = parseReleaseManifest(head.manifest);
    if (!manifest.ok) throw invalid(`the manifest is not valid: ${manifest.reason}`, `bản kê khai không hợp lệ: ${manifest.reason}`);
    const m = manifest.value;
    if (await this.d.repo.releaseOf(m.version, m.arch)) {
      throw brokerError('LOA_ERR_CONFLICT', { en: `release ${m.version} for ${m.arch} is already here`, vi: `bản phát hành ${m.version} cho ${m.arch} đã có` });
    }
    const sha256 = await sha256File(file);
    mkdirSync(this.d.dir, { recursive: true });
    const release: Release = {
      id: newId(),
      version: m.version,
      arch: m.arch,
      nodeAbi: m.nodeAbi,
      minPreviousVersion: m.minPreviousVersion,
      sha256,
      sizeBytes: statSync(file).size,
      files: m.files.length,
      signedBy: signature.value.kid,
      uploadedBy,
      createdAt: new Date(this.d.clock.now()).toISOString(),
    };
    renameSync(file, this.pathOf(release));
    await this.d.repo.insertRelease(release);
    return release;
  }
}
