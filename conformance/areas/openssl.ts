/**
 * The `openssl` command as a second, independent verifier for the interop area: it reads Windows
 * blobs (MSBLOB) and checks signatures with code p11-ksp shares nothing with. Each call works in a
 * temporary directory of its own, removed afterwards; only public data (keys, signatures, digests)
 * is ever written there.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KeyObject } from 'node:crypto';

/** The openssl executable on PATH, or undefined (then the openssl cases are not applicable). */
export function opensslOnPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'openssl');
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `requires.applicable` of the cases that run openssl. */
export function needsOpenssl(): string | undefined {
  return opensslOnPath() ? undefined : 'the `openssl` command is not on PATH (install OpenSSL to run the openssl checks)';
}

export interface OpensslResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs openssl with `files` (name → bytes) written to a fresh directory; `{name}` in an argument is
 * replaced by that file's path. Output files named in `outputs` are read back.
 */
export async function runOpenssl(args: string[], files: Record<string, Uint8Array>, outputs: string[] = []): Promise<OpensslResult & { out: Record<string, Buffer> }> {
  const binary = opensslOnPath();
  if (!binary) throw new Error('openssl is not on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'p11ksp-openssl-'));
  try {
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
    const resolved = args.map((a) => a.replace(/\{([\w.-]+)\}/g, (_, name: string) => join(dir, name)));
    const result = await new Promise<OpensslResult>((resolve) => {
      execFile(binary, resolved, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => resolve({ ok: !err, stdout, stderr }));
    });
    const out: Record<string, Buffer> = {};
    for (const name of outputs) {
      try {
        out[name] = await readFile(join(dir, name));
      } catch {
        // absent: the caller checks
      }
    }
    return { ...result, out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function pem(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'pem', type: 'spki' }));
}

/**
 * `openssl dgst -<hash> -verify` of `signature` (big-endian / DER as OpenSSL expects) over `message`.
 * Returns whether OpenSSL said "Verified OK".
 */
export async function opensslVerify(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array, options: { hash?: string; pss?: number } = {}): Promise<boolean> {
  const sigopts = options.pss !== undefined ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', `rsa_pss_saltlen:${options.pss}`] : [];
  const r = await runOpenssl(['dgst', `-${options.hash ?? 'sha256'}`, '-verify', '{pub.pem}', ...sigopts, '-signature', '{sig.bin}', '{msg.bin}'],
    { 'pub.pem': pem(publicKey), 'sig.bin': signature, 'msg.bin': message });
  return r.ok && r.stdout.includes('Verified OK');
}

/** `openssl pkeyutl -verify` of a signature over a precomputed digest (what a card signs). */
export async function opensslPkeyutlVerify(publicKey: KeyObject, digest: Uint8Array, signature: Uint8Array, hash = 'sha256'): Promise<boolean> {
  const r = await runOpenssl(['pkeyutl', '-verify', '-pubin', '-inkey', '{pub.pem}', '-in', '{digest.bin}', '-sigfile', '{sig.bin}', '-pkeyopt', `digest:${hash}`],
    { 'pub.pem': pem(publicKey), 'digest.bin': digest, 'sig.bin': signature });
  return r.ok && r.stdout.includes('Signature Verified Successfully');
}

/** The SubjectPublicKeyInfo (DER) OpenSSL reads from a CryptoAPI PUBLICKEYBLOB (`rsa -pubin -inform MSBLOB`). */
export async function opensslReadMsBlob(blob: Uint8Array): Promise<Buffer> {
  const r = await runOpenssl(['rsa', '-pubin', '-inform', 'MSBLOB', '-in', '{key.blob}', '-pubout', '-outform', 'DER', '-out', '{key.der}'], { 'key.blob': blob }, ['key.der']);
  const der = r.out['key.der'];
  if (!r.ok || !der) throw new Error(`openssl could not read the PUBLICKEYBLOB as MSBLOB: ${r.stderr.trim().split('\n')[0] ?? 'no output'}`);
  return der;
}

/** An ECDSA r||s signature (big-endian, fixed width) as the DER Ecdsa-Sig-Value OpenSSL takes. Written by hand. */
export function ecdsaRawToDer(raw: Uint8Array): Buffer {
  const half = raw.length / 2;
  const integer = (bytes: Uint8Array): Buffer => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    const body = Buffer.from(bytes.subarray(i));
    const value = body[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body;
    return Buffer.concat([Buffer.from([0x02]), derLength(value.length), value]);
  };
  const content = Buffer.concat([integer(raw.subarray(0, half)), integer(raw.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30]), derLength(content.length), content]);
}

function derLength(length: number): Buffer {
  return length < 0x80 ? Buffer.from([length]) : Buffer.from([0x81, length]);
}
