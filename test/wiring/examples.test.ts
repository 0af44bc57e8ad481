/**
 * The README's examples, run as a user runs them: child processes that import the package by name,
 * with P11KSP_HOME registering one SoftHSM2 token of this suite (the only card they see).
 *  - examples/ncrypt-sign.mjs (CNG): first run, the key is missing and is created silently; second
 *    run, found. Between them a certificate for the key is stored through NCRYPT_CERTIFICATE_PROPERTY,
 *    and the second run prints it.
 *  - examples/capi-encrypt.mjs (CryptoAPI): first run, the silent probe fails with NTE_BAD_KEYSET and
 *    the container and its exchange key are created; second run, opened; both encrypt, decrypt on the
 *    card and round-trip a document through an AES-256 session key and a SIMPLEBLOB.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { x509 } from '../../minidriver/x509.js';
import { RegistryStore } from '../../smartcard/registry/index.js';
import { makeToken, rig, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLES = join(REPO, 'examples');
const ROOT = fileURLToPath(new URL('../../index.js', import.meta.url));

/** A P11KSP_HOME whose registry serves one new token, and a PIN file for it; removed after the suite. */
function exampleHome(label: string): { env: NodeJS.ProcessEnv; pinFile: string; pin: string } {
  const token = makeToken(label);
  const setup = { env: {} as NodeJS.ProcessEnv, pinFile: '', pin: token.pin };
  let home = '';
  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'p11ksp-example-'));
    await new RegistryStore(home).add({ name: 'example-hsm', kind: 'minidriver', module: SOFTHSM2_MODULE, match: { label: token.label } });
    setup.env = { ...rig.env(), P11KSP_HOME: home };
    setup.pinFile = join(home, 'pin.txt');
    writeFileSync(setup.pinFile, `${token.pin}\n`, { mode: 0o600 });
  });
  after(() => rmSync(home, { recursive: true, force: true }));
  return setup;
}

const runExample = (file: string, args: string[], env: NodeJS.ProcessEnv): string =>
  execFileSync(process.execPath, [join(EXAMPLES, file), ...args], { env, cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('README example: NCrypt sign and verify (examples/ncrypt-sign.mjs)', function () {
  this.timeout(120_000);
  const setup = exampleHome('example-ncrypt');
  const token = { pin: setup.pin };
  let env: NodeJS.ProcessEnv;
  let pinFile: string;
  before(() => ({ env, pinFile } = setup));

  const run = (): string => runExample('ncrypt-sign.mjs', ['example-key', pinFile], env);

  it('creates the key silently on the first run, signs and verifies; no certificate yet', () => {
    const out = run();
    assert.match(out, /^created "example-key"$/m);
    assert.match(out, /^signature \(256 bytes, big-endian\)/m);
    assert.match(out, /^signature verified$/m);
    assert.match(out, /^certificate: none stored/m);
    assert.ok(!out.includes(token.pin), 'the PIN is never printed');
  });

  it('finds the same key on the next run and prints the certificate stored for it', async () => {
    // A certificate for the card key, issued by a throw-away CA (the card key need not sign it).
    const program = `
      const p11 = await import(${JSON.stringify(ROOT)});
      const prov = await p11.NCryptOpenStorageProvider(null);
      const key = await p11.NCryptOpenKey(prov, 'example-key', p11.AT_SIGNATURE, p11.NCRYPT_SILENT_FLAG);
      process.stdout.write((await p11.NCryptExportKey(key, null, 'CAPIPUBLICBLOB', null)).toString('base64'));
      await p11.NCryptFreeObject(key); await p11.NCryptFreeObject(prov); await p11.setDefaultSmartCardService(null);`;
    const capi = Buffer.from(execFileSync(process.execPath, ['--input-type=module', '-e', program], { env, encoding: 'utf8' }), 'base64');
    // CAPI PUBLICKEYBLOB → JWK, written out here: 20-byte header, exponent at 16, modulus little-endian.
    const modulus = Buffer.from(capi.subarray(20)).reverse();
    const exponent = Buffer.alloc(4);
    exponent.writeUInt32BE(capi.readUInt32LE(16));
    const cardKey = createPublicKey({ key: { kty: 'RSA', n: modulus.toString('base64url'), e: exponent.subarray(exponent.findIndex((b) => b !== 0)).toString('base64url') }, format: 'jwk' });

    const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const ca = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: '01', subject: 'CN=example-key', issuer: 'CN=Example CA', notBefore: new Date('2026-01-01'), notAfter: new Date('2036-01-01'),
      publicKey: await webcrypto.subtle.importKey('spki', cardKey.export({ format: 'der', type: 'spki' }), alg, true, ['verify']),
      signingKey: await webcrypto.subtle.importKey('pkcs8', ca.privateKey.export({ format: 'der', type: 'pkcs8' }), alg, false, ['sign']),
      signingAlgorithm: alg,
    });
    const store = `
      const p11 = await import(${JSON.stringify(ROOT)});
      const fs = await import('node:fs');
      const prov = await p11.NCryptOpenStorageProvider(null);
      await p11.NCryptSetProperty(prov, p11.NCRYPT_PIN_PROPERTY, fs.readFileSync(${JSON.stringify(pinFile)}, 'utf8').trim());
      const key = await p11.NCryptOpenKey(prov, 'example-key', p11.AT_SIGNATURE, p11.NCRYPT_SILENT_FLAG);
      await p11.NCryptSetProperty(key, p11.NCRYPT_CERTIFICATE_PROPERTY, Buffer.from(${JSON.stringify(Buffer.from(certificate.rawData).toString('base64'))}, 'base64'), p11.NCRYPT_SILENT_FLAG);
      await p11.NCryptFreeObject(key); await p11.NCryptFreeObject(prov); await p11.setDefaultSmartCardService(null);`;
    execFileSync(process.execPath, ['--input-type=module', '-e', store], { env, encoding: 'utf8' });

    const out = run();
    assert.match(out, /^found "example-key"$/m);
    assert.match(out, /^signature verified$/m);
    assert.match(out, /^certificate: CN=example-key, issued by CN=Example CA, valid until Jan  1 00:00:00 2036 GMT$/m);
  });
});

describe('README example: CryptoAPI smart card encryption (examples/capi-encrypt.mjs)', function () {
  this.timeout(120_000);
  const setup = exampleHome('example-capi');
  const run = (): string => runExample('capi-encrypt.mjs', ['walkthrough', setup.pinFile], setup.env);
  const roundTrips = (out: string): void => {
    assert.match(out, /^RSA ciphertext: 256 bytes$/m); // one RSA-2048 block
    assert.match(out, /^decrypted on the card: "Here is some sample data!"$/m);
    assert.match(out, /^document: 320 bytes of AES-256-CBC, key in a 268-byte SIMPLEBLOB$/m); // 316 bytes + PKCS#5 padding; 12-byte header + one RSA block
    assert.match(out, /^document decrypted: identical$/m);
    assert.ok(!out.includes(setup.pin), 'the PIN is never printed');
  };

  it('first run: the silent probe finds nothing, the container and its exchange key are created, and everything round-trips', () => {
    const out = run();
    assert.match(out, /^created "walkthrough"$/m);
    assert.match(out, /^generated an RSA-2048 exchange key on the card$/m);
    roundTrips(out);
  });

  it('second run: the silent probe finds the container, which is reopened with its key', () => {
    const out = run();
    assert.match(out, /^opened "walkthrough"$/m);
    assert.doesNotMatch(out, /generated/);
    roundTrips(out);
  });
});
