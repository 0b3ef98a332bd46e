/**
 * `loalang pki init`: a private certificate authority and a server certificate signed by it,
 * for deployments without a public certificate. Devices pin the CA (`caFile` in their config)
 * and so accept this server and nothing else. Keys come from Node's crypto; node-forge builds
 * the X.509 certificates (Node has no certificate builder).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

export interface PkiFiles {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
}

export const PKI_FILE_NAMES = { caCert: 'ca.crt', caKey: 'ca.key', serverCert: 'server.crt', serverKey: 'server.key' } as const;

const DAY = 86_400_000;

function rsaKeys(bits: number): { pem: string; forgePrivate: forge.pki.rsa.PrivateKey; forgePublic: forge.pki.rsa.PublicKey } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  return {
    pem,
    forgePrivate: forge.pki.privateKeyFromPem(pem),
    forgePublic: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()) as forge.pki.rsa.PublicKey,
  };
}

function certificate(subject: forge.pki.CertificateField[], issuer: forge.pki.CertificateField[], publicKey: forge.pki.rsa.PublicKey, validDays: number, extensions: object[]): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`; // positive, 128 bits of randomness
  cert.validity.notBefore = new Date(Date.now() - DAY);
  cert.validity.notAfter = new Date(Date.now() + validDays * DAY);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  cert.setExtensions(extensions);
  return cert;
}

/** PEM texts of a new CA (10 years) and a server certificate (825 days) for `hosts` (names or IP addresses). */
export function makePki(hosts: string[], organisation = 'LoaLang'): PkiFiles {
  const ca = rsaKeys(3072);
  const caName = [{ name: 'commonName', value: `${organisation} private CA` }, { name: 'organizationName', value: organisation }];
  const caCert = certificate(caName, caName, ca.forgePublic, 3650, [
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.forgePrivate, forge.md.sha256.create());
  const server = rsaKeys(2048);
  const altNames = [...new Set([...hosts, 'localhost', '127.0.0.1'])].map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h }));
  const serverCert = certificate([{ name: 'commonName', value: hosts[0] ?? 'localhost' }, { name: 'organizationName', value: organisation }], caName, server.forgePublic, 825, [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  serverCert.sign(ca.forgePrivate, forge.md.sha256.create());
  return { caCert: forge.pki.certificateToPem(caCert), caKey: ca.pem, serverCert: forge.pki.certificateToPem(serverCert), serverKey: server.pem };
}

/** Writes the files into `dir` (keys readable by the owner only); refuses to overwrite an existing CA. */
export async function writePki(dir: string, files: PkiFiles): Promise<Record<keyof PkiFiles, string>> {
  const paths = Object.fromEntries(Object.entries(PKI_FILE_NAMES).map(([k, name]) => [k, join(dir, name)])) as Record<keyof PkiFiles, string>;
  const existing = Object.values(paths).find((p) => existsSync(p));
  if (existing) throw new Error(`${existing} đã tồn tại, không ghi đè / already exists; not overwritten`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const key of Object.keys(paths) as (keyof PkiFiles)[]) await writeFile(paths[key], files[key], { mode: key.endsWith('Key') ? 0o600 : 0o644 });
  return paths;
}
