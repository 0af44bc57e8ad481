import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { generateKeyPair, runPkcs11Tool } from '../rigs/index.js';
import { CKO, expectCryptError, grapheneObjects, makeToken, newDriver, openContext, pin, readCmap, SOFTHSM2_MODULE } from './helpers.js';

const token = makeToken('br-certs');

/** A self-signed DER certificate made by the openssl CLI (independent of the code under test). */
function makeCertificate(dir: string, cn: string): Buffer {
  const out = join(dir, `${cn}.der`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${cn}.key`),
    '-subj', `/CN=${cn}`, '-days', '2', '-outform', 'DER', '-out', out], { stdio: 'pipe' });
  return readFileSync(out);
}

/** Base CSP's compressed certificate file: WORD 1, WORD uncompressed length, zlib stream. */
function compressedCertificateFile(der: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(1, 0);
  header.writeUInt16LE(der.length, 2);
  return Buffer.concat([header, deflateSync(der)]);
}

describe('pkcs11-bridge: certificate files mscp/kxcNN and kscNN are the keys\' CKO_CERTIFICATE objects', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  let dir: string;
  let certA: Buffer;
  let certB: Buffer;

  const certificatesWithId = (id: string) => grapheneObjects(token.label).filter((o) => o.cls === CKO.CERTIFICATE && o.id === id);
  const keyIdOf = async (index: number) => {
    const name = (await readCmap(ctx))[index]!.name;
    return grapheneObjects(token.label, token.pin).find((o) => o.cls === CKO.PRIVATE_KEY && o.label === name)!.id;
  };

  before(async function () {
    this.timeout(60_000);
    dir = mkdtempSync(join(tmpdir(), 'p11ksp-certs-'));
    certA = makeCertificate(dir, 'cert-a');
    certB = makeCertificate(dir, 'cert-b');
    driver = newDriver();
    ctx = await openContext(driver, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    await ctx.CardCreateContainer(0, 1, 1, 1024); // AT_KEYEXCHANGE
    await ctx.CardCreateContainer(10, 1, 3, 256); // AT_ECDSA_P256 at index 10 (0x0a)
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('CardCreateFile + CardWriteFile of kxc00 stores a certificate with the key\'s CKA_ID; read, enumerate and size follow', async () => {
    await ctx.CardCreateFile('mscp', 'kxc00', 0, 1);
    await ctx.CardWriteFile('mscp', 'kxc00', 0, certA);
    const id = await keyIdOf(0);
    const certs = certificatesWithId(id);
    assert.equal(certs.length, 1, 'one CKO_CERTIFICATE with the key\'s CKA_ID (graphene)');
    assert.deepEqual(certs[0]!.value, certA);
    assert.equal(certs[0]!.private, false);
    assert.deepEqual(await ctx.CardReadFile('mscp', 'kxc00'), certA);
    assert.deepEqual(await ctx.CardReadFile('mscp', 'KXC00'), certA, 'case-insensitive');
    assert.ok((await ctx.CardEnumFiles('mscp')).includes('kxc00'));
    assert.equal((await ctx.CardGetFileInfo('mscp', 'kxc00')).cbFileSize, certA.length);
    assert.equal(grapheneObjects(token.label).filter((o) => o.cls === CKO.DATA && o.label.startsWith('mscp/kxc')).length, 0, 'not stored as a data file');
  });

  it('writing again replaces the certificate (one object), also from the compressed Base CSP form', async () => {
    await ctx.CardWriteFile('mscp', 'kxc00', 0, compressedCertificateFile(certB));
    const certs = certificatesWithId(await keyIdOf(0));
    assert.equal(certs.length, 1);
    assert.deepEqual(certs[0]!.value, certB, 'the token holds plain DER');
    assert.deepEqual(await ctx.CardReadFile('mscp', 'kxc00'), certB);
  });

  it('index 10 is named with two hex digits (ksc0a)', async () => {
    await ctx.CardWriteFile('mscp', 'ksc0a', 0, certA);
    const names = await ctx.CardEnumFiles('mscp');
    assert.ok(names.includes('ksc0a'), `${names}`);
    assert.deepEqual(await ctx.CardReadFile('mscp', 'ksc0a'), certA);
    assert.equal(certificatesWithId(await keyIdOf(10)).length, 1);
  });

  it('a certificate for a slot without a key is refused (SCARD_E_NO_KEY_CONTAINER); a missing one is SCARD_E_FILE_NOT_FOUND', async () => {
    await expectCryptError(() => ctx.CardWriteFile('mscp', 'ksc00', 0, certA), 'SCARD_E_NO_KEY_CONTAINER');
    await expectCryptError(() => ctx.CardReadFile('mscp', 'ksc00'), 'SCARD_E_FILE_NOT_FOUND');
    await expectCryptError(() => ctx.CardReadFile('mscp', 'kxc05'), 'SCARD_E_FILE_NOT_FOUND');
    assert.ok(!(await ctx.CardEnumFiles('mscp')).includes('ksc00'));
  });

  it('content that is no certificate is SCARD_E_INVALID_PARAMETER and the old certificate stays', async () => {
    await expectCryptError(() => ctx.CardWriteFile('mscp', 'kxc00', 0, Buffer.from('not a certificate')), 'SCARD_E_INVALID_PARAMETER');
    assert.deepEqual(await ctx.CardReadFile('mscp', 'kxc00'), certB);
  });

  it('writing a certificate needs the PIN', async () => {
    await ctx.CardDeauthenticate('user');
    try {
      await expectCryptError(() => ctx.CardWriteFile('mscp', 'kxc00', 0, certA), 'SCARD_W_SECURITY_VIOLATION');
      await expectCryptError(() => ctx.CardDeleteFile('mscp', 'kxc00'), 'SCARD_W_SECURITY_VIOLATION');
      assert.deepEqual(await ctx.CardReadFile('mscp', 'kxc00'), certB, 'everyone reads certificates');
    } finally {
      await ctx.CardAuthenticatePin('user', pin(token.pin));
    }
  });

  it('CardDeleteFile removes the certificate object and the file', async () => {
    const id = await keyIdOf(0);
    await ctx.CardDeleteFile('mscp', 'kxc00');
    assert.equal(certificatesWithId(id).length, 0);
    await expectCryptError(() => ctx.CardReadFile('mscp', 'kxc00'), 'SCARD_E_FILE_NOT_FOUND');
    assert.ok(!(await ctx.CardEnumFiles('mscp')).includes('kxc00'));
  });

  it('a certificate pkcs11-tool writes for its own key pair appears as that container\'s certificate file', async () => {
    const tool = { modulePath: SOFTHSM2_MODULE, label: token.label, pin: token.pin };
    generateKeyPair(tool, { keyType: 'EC:prime256v1', id: 'ce01', label: 'tool-cert-key' });
    runPkcs11Tool(['--module', SOFTHSM2_MODULE, '--token-label', token.label, '--login', '--pin', token.pin,
      '--write-object', join(dir, 'cert-a.der'), '--type', 'cert', '--id', 'ce01', '--label', 'tool-cert-key']);
    const records = await readCmap(ctx);
    const index = records.findIndex((r) => r?.name === 'tool-cert-key');
    assert.ok(index >= 0);
    const name = `ksc${index.toString(16).padStart(2, '0')}`;
    assert.ok((await ctx.CardEnumFiles('mscp')).includes(name), `${name} listed`);
    assert.deepEqual(await ctx.CardReadFile('mscp', name), certA);
  });
});
