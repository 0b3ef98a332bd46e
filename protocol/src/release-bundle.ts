/**
 * The signed head of a release bundle (release.ts): `manifest.json` and `manifest.sig`, read from
 * the gzipped tar without writing anything, so the server (on upload) and the box (before
 * unpacking) check who signed it before trusting a byte of the rest.
 */
import { list } from 'tar';

export interface BundleHead {
  manifest: Buffer | null;
  signature: Buffer | null;
}

/** Reads the bundle's manifest and signature; rejects when the file is not a readable tar.gz. */
export async function readBundleHead(file: string): Promise<BundleHead> {
  const head = new Map<string, Buffer>();
  await list({
    file,
    strict: true,
    filter: (path) => ['manifest.json', 'manifest.sig'].includes(path.replace(/^\.\//, '')),
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => head.set(entry.path.replace(/^\.\//, ''), Buffer.concat(chunks)));
    },
  });
  return { manifest: head.get('manifest.json') ?? null, signature: head.get('manifest.sig') ?? null };
}
