// What the runConformance suites share: keys and a certificate made on a SoftHSM2 token by other
// tools (pkcs11-tool, @peculiar/x509), an independent snapshot of a token's objects (graphene), and
// the checks every run result must pass.
import { strict as assert } from 'node:assert';
import { createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import * as graphene from 'graphene-pk11';
import pkcs11js from 'pkcs11js';
import type { RunEvent, RunResult } from '../../conformance/case.js';
import { attributeReader, findGrapheneSlot, generateKeyPair, openGrapheneModule, pkcs11ErrorCode, runPkcs11Tool, type Pkcs11ToolToken } from '../rigs/index.js';

/** The container prefix of the suite's own keys (conformance/context.ts). */
export const OWN_PREFIX = 'p11ksp-conf-';

const ALG = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };

/**
 * RSA-2048 that decrypts (AT_KEYEXCHANGE, id 01) with a certificate, RSA-2048 that only signs
 * (AT_SIGNATURE, id 02), and ECDSA P-256 (id 03): the keys a user's token typically holds.
 */
export async function giveUserKeys(token: Pkcs11ToolToken): Promise<void> {
  generateKeyPair(token, { keyType: 'rsa:2048', id: '01', label: 'user-rsa-keyx', extraArgs: ['--usage-sign', '--usage-decrypt'] });
  signOnlyRsaKey(token, '02', 'user-rsa-sig');
  generateKeyPair(token, { keyType: 'EC:prime256v1', id: '03', label: 'user-ec', extraArgs: ['--usage-sign'] });
  const dir = mkdtempSync(join(tmpdir(), 'p11ksp-conf-cert-'));
  try {
    const pubPath = join(dir, 'pub.der');
    runPkcs11Tool(['--module', token.modulePath, '--token-label', token.label, '--read-object', '--type', 'pubkey', '--id', '01', '-o', pubPath], token.env);
    const spki = createPublicKey({ key: readFileSync(pubPath), format: 'der', type: 'spki' }).export({ format: 'der', type: 'spki' });
    const ca = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: '01', subject: `CN=${token.label} user`, issuer: 'CN=Conformance Test CA',
      notBefore: new Date('2025-01-01'), notAfter: new Date('2035-01-01'),
      publicKey: await webcrypto.subtle.importKey('spki', spki, ALG, true, ['verify']),
      signingKey: await webcrypto.subtle.importKey('pkcs8', ca.privateKey.export({ format: 'der', type: 'pkcs8' }), ALG, false, ['sign']),
      signingAlgorithm: ALG,
    });
    const certPath = join(dir, 'cert.der');
    writeFileSync(certPath, Buffer.from(cert.rawData));
    runPkcs11Tool(['--module', token.modulePath, '--token-label', token.label, '--login', '--pin', token.pin,
      '--write-object', certPath, '--type', 'cert', '--id', '01', '--label', 'user-rsa-keyx'], token.env);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * An RSA-2048 pair that signs and cannot decrypt (AT_SIGNATURE), made through graphene-pk11:
 * pkcs11-tool's --usage-sign leaves CKA_DECRYPT at SoftHSM2's default (true), which makes a key-exchange key.
 */
function signOnlyRsaKey(token: Pkcs11ToolToken, idHex: string, label: string): void {
  const session = findGrapheneSlot(openGrapheneModule(token.modulePath), token.label).open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
  let loggedIn = false;
  try {
    try {
      session.login(token.pin, graphene.UserType.USER);
      loggedIn = true;
    } catch (err) {
      if (pkcs11ErrorCode(err) !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) throw err;
    }
    const id = Buffer.from(idHex, 'hex');
    session.generateKeyPair(graphene.KeyGenMechanism.RSA, {
      keyType: graphene.KeyType.RSA, token: true, id, label, verify: true, encrypt: false, wrap: false,
      modulusBits: 2048, publicExponent: Buffer.from([1, 0, 1]),
    }, {
      keyType: graphene.KeyType.RSA, token: true, private: true, id, label, sign: true, decrypt: false, unwrap: false,
      sensitive: true, extractable: false,
    });
  } finally {
    if (loggedIn) session.logout();
    session.close();
  }
}

/** Attributes that make an object what it is; values that cannot be read (sensitive) are left out. */
const SNAPSHOT_ATTRIBUTES: [string, number][] = [
  ['class', pkcs11js.CKA_CLASS], ['label', pkcs11js.CKA_LABEL], ['id', pkcs11js.CKA_ID], ['value', pkcs11js.CKA_VALUE],
  ['modulus', pkcs11js.CKA_MODULUS], ['exponent', pkcs11js.CKA_PUBLIC_EXPONENT], ['ecParams', pkcs11js.CKA_EC_PARAMS],
  ['ecPoint', pkcs11js.CKA_EC_POINT], ['subject', pkcs11js.CKA_SUBJECT], ['application', pkcs11js.CKA_APPLICATION],
  ['keyType', pkcs11js.CKA_KEY_TYPE], ['private', pkcs11js.CKA_PRIVATE], ['sign', pkcs11js.CKA_SIGN], ['decrypt', pkcs11js.CKA_DECRYPT],
  ['sensitive', pkcs11js.CKA_SENSITIVE], ['extractable', pkcs11js.CKA_EXTRACTABLE],
];

/**
 * Every object on a token (private ones too), each as a canonical string of its attributes in hex,
 * read through graphene-pk11 — a PKCS#11 client independent of the code under test.
 */
export function tokenSnapshot(modulePath: string, tokenLabel: string, pin: string): string[] {
  const module = openGrapheneModule(modulePath);
  const session = findGrapheneSlot(module, tokenLabel).open(graphene.SessionFlag.SERIAL_SESSION);
  let loggedIn = false;
  try {
    try {
      session.login(pin, graphene.UserType.USER);
      loggedIn = true;
    } catch (err) {
      if (pkcs11ErrorCode(err) !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) throw err; // our code is logged in: read as it is
    }
    const found = session.find({});
    const objects: string[] = [];
    for (let i = 0; i < found.length; i++) {
      const { raw } = attributeReader(found.items(i));
      objects.push(JSON.stringify(SNAPSHOT_ATTRIBUTES.map(([name, type]) => [name, raw(type)?.toString('hex') ?? null])));
    }
    return objects.sort();
  } finally {
    if (loggedIn) session.logout();
    session.close();
  }
}

/** The CKA_LABELs of a snapshot's objects, as text. */
export function labelsOf(snapshot: readonly string[]): string[] {
  return snapshot.map((o) => Buffer.from((JSON.parse(o) as [string, string | null][]).find(([n]) => n === 'label')![1] ?? '', 'hex').toString('utf8'));
}

/** A line per failed case, for assertion messages. */
export function failures(result: RunResult): string {
  return result.results.filter((r) => r.outcome.status === 'failed')
    .map((r) => `${r.area}/${r.id}: ${r.outcome.status === 'failed' ? `${r.outcome.error.code ?? ''} ${r.outcome.error.message}` : ''}`)
    .join('\n');
}

/** What every run result must satisfy, whatever the target. */
export function assertConsistent(result: RunResult, events: readonly RunEvent[]): void {
  const count = (status: string): number => result.results.filter((r) => r.outcome.status === status).length;
  assert.deepEqual(result.totals, { passed: count('passed'), failed: count('failed'), notApplicable: count('not-applicable'), skipped: count('skipped') });
  assert.equal(events[0]?.type, 'probed', 'the first event is the probe');
  assert.equal(events.filter((e) => e.type === 'case-end').length, result.results.length, 'one case-end event per case');
  assert.equal(events.filter((e) => e.type === 'case-start').length, result.results.length, 'one case-start event per case');
  for (const r of result.results) {
    if (r.outcome.status === 'not-applicable' || r.outcome.status === 'skipped') assert.ok(r.outcome.reason.length > 0, `${r.area}/${r.id} says why it did not run`);
  }
  assert.doesNotThrow(() => JSON.stringify(result), 'the result is plain data');
}
