// The card verbs end to end, as a user runs them (a child process with no terminal): cards,
// containers list/create/delete, sign, verify, cache show/clear — on a SoftHSM2 token the test makes
// (--module) and on the embedded store. What the CLI reports is checked against what pkcs11-tool reads
// from the same token in its own process, and every documented exit code is provoked for real.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, createPublicKey, type KeyObject, verify as verifySignature } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CacheDocument, CardsDocument, CertsDocument, ContainersDocument } from '../../cli/json-schema.js';
import { buildPinCounterShim, listObjects, pinCounterEnv, runPkcs11Tool, SOFTHSM2_MODULE, SoftHsmRig } from '../rigs/index.js';
import { type CliResult, MAIN_JS, runCli, tempDir, writePinFile } from './harness.js';

const LABEL = 'cli-verbs';
const PIN = 'verbs-pin-5b1e';

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/**
 * This file's tokens live in a SoftHSM2 store of their own: `cards` opens every card its CLI process
 * sees, and opening a fresh token writes its card file system, which other suites' tokens in the
 * shared store must not get. Only child processes (the CLI, pkcs11-tool) see this store.
 */
const STORE = SoftHsmRig.private();
const STORE_ENV = { SOFTHSM2_CONF: STORE.confPath };
const tool = (args: string[]): string => runPkcs11Tool(args, STORE.env());

function json<T>(r: CliResult): T {
  return JSON.parse(ok(r).stdout) as T; // stdout is exactly one JSON document
}

/** The RSA public key pkcs11-tool reads for a label (SubjectPublicKeyInfo), as node:crypto uses it. */
function rsaPublicKeyOf(label: string, dir: string): KeyObject {
  const file = join(dir, `${label}.spki.der`);
  tool(['--module', SOFTHSM2_MODULE, '--token-label', LABEL, '--read-object', '--type', 'pubkey', '--label', label, '-o', file]);
  return createPublicKey({ key: readFileSync(file), format: 'der', type: 'spki' });
}

const CURVES_BY_OID: ReadonlyMap<string, string> = new Map([
  ['06082a8648ce3d030107', 'P-256'],
  ['06052b81040022', 'P-384'],
  ['06052b81040023', 'P-521'],
]);

/**
 * An EC public key from pkcs11-tool's listing (EC_PARAMS, EC_POINT in hex): pkcs11-tool 0.23 cannot
 * export P-384 keys (it answers "cannot create EVP_PKEY"), so the point is taken apart here.
 */
function ecPublicKeyOf(label: string): KeyObject {
  const key = listObjects({ modulePath: SOFTHSM2_MODULE, label: LABEL, pin: PIN, env: STORE.env() }, 'pubkey').find((o) => o.label === label);
  assert.ok(key, `pkcs11-tool lists no public key "${label}"`);
  const crv = CURVES_BY_OID.get(key.fields.EC_PARAMS ?? '');
  assert.ok(crv, `unknown curve ${key.fields.EC_PARAMS}`);
  const der = Buffer.from(key.fields.EC_POINT!, 'hex');
  const point = der.subarray(der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2); // inside the OCTET STRING
  assert.equal(point[0], 0x04, 'an uncompressed point');
  const size = (point.length - 1) / 2;
  return createPublicKey({ key: { kty: 'EC', crv, x: point.subarray(1, 1 + size).toString('base64url'), y: point.subarray(1 + size).toString('base64url') }, format: 'jwk' });
}

describe('p11-ksp card verbs on a SoftHSM2 token (--module)', function () {
  this.timeout(120_000);
  const tmp = tempDir();
  const env = { P11KSP_HOME: join(tmp.dir, 'home'), ...STORE_ENV };
  const token = STORE.tokens.find((t) => t.label === LABEL) ?? STORE.addToken({ label: LABEL, pin: PIN });
  const pinFile = writePinFile(tmp.dir, 'pin', PIN);
  const wrongPinFile = writePinFile(tmp.dir, 'wrong-pin', 'not-the-pin');
  const data = join(tmp.dir, 'data.txt');
  writeFileSync(data, 'a message signed by the CLI\n');
  const m = ['--module', SOFTHSM2_MODULE];
  const toolToken = { modulePath: SOFTHSM2_MODULE, label: LABEL, pin: PIN, env: STORE.env() };
  /** --reader of this suite's token: other suites' tokens may share the SoftHSM2 store. */
  let at: string[] = [];
  before(async () => {
    const doc = json<CardsDocument>(await runCli(['cards', '--json', ...m], env));
    at = ['--reader', doc.cards.find((c) => c.label === LABEL)!.reader];
  });
  after(() => tmp.remove());

  it('cards --json shows the token as pkcs11-tool sees it, served by the --module registration', async () => {
    const doc = json<CardsDocument>(await runCli(['cards', '--json', ...m], env));
    assert.equal(doc.schema, 'p11-ksp/cards/v1');
    const card = doc.cards.find((c) => c.label === LABEL);
    assert.ok(card, JSON.stringify(doc));
    assert.equal(card.serial, token.serial);
    assert.equal(card.registration, 'command-line --module');
    assert.equal(card.atr, null, 'a SoftHSM2 slot has no ATR');
    assert.match(card.cardGuid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(card.readOnly, false);
    assert.ok(card.containers.max > 0 && card.containers.free <= card.containers.max);
    const slots = tool(['--module', SOFTHSM2_MODULE, '--list-slots']);
    assert.ok(slots.includes(`serial num         : ${token.serial}`), 'pkcs11-tool lists the same serial');
    assert.ok(doc.emptyReaders.length > 0, 'SoftHSM2 keeps a free (uninitialised) slot');
  });

  it('cards --reader on the free slot: exit 5 (no card)', async () => {
    const doc = json<CardsDocument>(await runCli(['cards', '--json', ...m], env));
    const r = await runCli(['cards', ...m, '--reader', doc.emptyReaders[0]!], env);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /SCARD_E_NO_SMARTCARD/);
    assert.equal(r.stdout, '');
  });

  it('containers create makes keys pkcs11-tool sees; list --json reports them', async () => {
    const rsa = ok(await runCli(['containers', 'create', 'cli-rsa', '--bits', '2048', '--key-spec', 'signature', '--pin-file', pinFile, ...m, ...at], env));
    assert.match(rsa.stdout, /Created container "cli-rsa" .*RSA 2048 bits, key spec signature/);
    assert.match(rsa.stderr, /generating RSA 2048-bit key "cli-rsa" on the card: done/, 'progress is on stderr');
    ok(await runCli(['containers', 'create', 'cli-ec', '--algorithm', 'ECDSA_P256', '--pin-file', pinFile, ...m, ...at], env));
    ok(await runCli(['containers', 'create', 'cli-ecdh', '--algorithm', 'ECDH_P384', '--pin-file', pinFile, ...m, ...at], env));

    const doc = json<ContainersDocument>(await runCli(['containers', 'list', '--json', ...m, ...at], env));
    assert.equal(doc.schema, 'p11-ksp/containers/v1');
    const byName = new Map(doc.containers.map((c) => [c.name, c]));
    assert.deepEqual(byName.get('cli-rsa')?.keys, [{ keySpec: 'signature', algorithm: 'RSA', bits: 2048, hasCertificate: false }]);
    assert.deepEqual(byName.get('cli-ec')?.keys, [{ keySpec: 'none', algorithm: 'ECDSA_P256', bits: 256, hasCertificate: false }]);
    assert.deepEqual(byName.get('cli-ecdh')?.keys, [{ keySpec: 'none', algorithm: 'ECDH_P384', bits: 384, hasCertificate: false }]);
    assert.equal(doc.containers.filter((c) => c.isDefault).length, 1, 'exactly one default container');

    // pkcs11-tool prints sizes for public keys; the private halves must be there too.
    const keys = listObjects(toolToken, 'pubkey');
    const described = (label: string): string | undefined => keys.find((k) => k.label === label)?.description;
    const privates = listObjects(toolToken, 'privkey').map((k) => k.label);
    for (const name of ['cli-rsa', 'cli-ec', 'cli-ecdh']) assert.ok(privates.includes(name), `no private key "${name}"`);
    assert.match(described('cli-rsa') ?? '', /RSA 2048 bits/);
    assert.match(described('cli-ec') ?? '', /EC.*256 bits/);
    assert.match(described('cli-ecdh') ?? '', /EC.*384 bits/);
  });

  it('containers create of a taken name: exit 8 without asking a PIN; --overwrite replaces it', async () => {
    const r = await runCli(['containers', 'create', 'cli-rsa', ...m, ...at], env); // no --pin-file: would be exit 2 if asked
    assert.equal(r.code, 8, r.stderr);
    assert.match(r.stderr, /NTE_EXISTS/);
    assert.equal(r.stdout, '');
    ok(await runCli(['containers', 'create', 'cli-ec', '--algorithm', 'ECDSA_P384', '--overwrite', '--pin-file', pinFile, ...m, ...at], env));
    const doc = json<ContainersDocument>(await runCli(['containers', 'list', '--json', ...m, ...at], env));
    assert.equal(doc.containers.find((c) => c.name === 'cli-ec')?.keys[0]?.algorithm, 'ECDSA_P384');
  });

  for (const [padding, extra] of [['pkcs1', []], ['pss', ['--padding', 'pss']]] as const) {
    it(`sign (RSA ${padding}) writes a signature node:crypto verifies with the key pkcs11-tool reads; verify agrees`, async () => {
      const sig = join(tmp.dir, `rsa-${padding}.sig`);
      const r = ok(await runCli(['sign', '--key', 'cli-rsa', '--hash', 'sha384', ...extra, '--in', data, '--out', sig, '--pin-file', pinFile, ...m], env));
      assert.equal(r.stdout, '', 'with --out FILE nothing goes to stdout');
      const key = rsaPublicKeyOf('cli-rsa', tmp.dir);
      const signature = readFileSync(sig);
      const options = padding === 'pss' ? { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 48 } : key;
      assert.equal(verifySignature('sha384', readFileSync(data), options, signature), true);
      ok(await runCli(['verify', '--key', 'cli-rsa', '--hash', 'sha384', ...extra, '--signature', sig, '--in', data, ...m], env));
    });
  }

  it('sign --out - puts only the ECDSA signature (r||s) on stdout', async () => {
    // Binary stdout: spawned here rather than through runCli, which collects text.
    const r = await new Promise<{ code: number | null; stdout: Buffer }>((resolve, reject) => {
      const child = spawn(process.execPath, [MAIN_JS, 'sign', '--key', 'cli-ec', '--in', data, '--out', '-', '--pin-file', pinFile, ...m],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => chunks.push(d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks) }));
    });
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length, 96, 'P-384 r||s is 96 bytes');
    const key = ecPublicKeyOf('cli-ec');
    assert.equal(verifySignature('sha256', readFileSync(data), { key, dsaEncoding: 'ieee-p1363' }, r.stdout), true);
  });

  it('certs shows a certificate pkcs11-tool wrote for a key; --export writes its DER', async () => {
    const certDer = join(tmp.dir, 'cert.der');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=cli certs test', '-days', '30',
      '-keyout', join(tmp.dir, 'unused.key'), '-out', certDer, '-outform', 'DER'], { stdio: 'ignore' });
    const id = listObjects(toolToken, 'privkey').find((k) => k.label === 'cli-rsa')!.id!;
    tool(['--module', SOFTHSM2_MODULE, '--token-label', LABEL, '--login', '--pin', PIN, '--write-object', certDer, '--type', 'cert', '--id', id, '--label', 'cli-rsa']);
    // A write by another PKCS#11 application does not move the card's freshness counters, so the
    // "no certificate" the earlier listings cached would hide it; `cache clear` is the remedy.
    ok(await runCli(['cache', 'clear'], env));
    const exportDir = join(tmp.dir, 'exported');
    const doc = json<CertsDocument>(await runCli(['certs', '--json', '--export', exportDir, ...m, ...at], env));
    assert.equal(doc.schema, 'p11-ksp/certs/v1');
    assert.equal(doc.certificates.length, 1, JSON.stringify(doc));
    const c = doc.certificates[0]!;
    assert.equal(c.container, 'cli-rsa');
    assert.equal(c.keySpec, 'signature');
    assert.equal(c.subject, 'CN=cli certs test');
    assert.equal(c.sha1Thumbprint, createHash('sha1').update(readFileSync(certDer)).digest('hex'));
    assert.equal(c.file, join(exportDir, 'cli-rsa-signature.cer'));
    assert.deepEqual(readFileSync(c.file), readFileSync(certDer));
    const list = json<ContainersDocument>(await runCli(['containers', 'list', '--json', ...m, ...at], env));
    assert.equal(list.containers.find((x) => x.name === 'cli-rsa')?.keys[0]?.hasCertificate, true);
  });

  it('verify of a signature over other data: exit 10, "signature does not match" on stderr', async () => {
    const sig = join(tmp.dir, 'rsa-pkcs1.sig');
    const other = join(tmp.dir, 'other.txt');
    writeFileSync(other, 'not the message that was signed\n');
    const r = await runCli(['verify', '--key', 'cli-rsa', '--hash', 'sha384', '--signature', sig, '--in', other, ...m], env);
    assert.equal(r.code, 10, r.stderr);
    assert.match(r.stderr, /signature does not match/);
    assert.equal(r.stdout, '');
  });

  it('sign with a wrong PIN: exit 3; with no terminal and no --pin-file: exit 2 naming --pin-file', async () => {
    const wrong = await runCli(['sign', '--key', 'cli-rsa', '--in', data, '--out', join(tmp.dir, 'x.sig'), '--pin-file', wrongPinFile, ...m], env);
    assert.equal(wrong.code, 3, wrong.stderr);
    assert.match(wrong.stderr, /SCARD_W_WRONG_CHV/);
    assert.equal(wrong.stderr.includes('not-the-pin'), false, 'the PIN is never in a message');
    const noPin = await runCli(['sign', '--key', 'cli-rsa', '--in', data, '--out', join(tmp.dir, 'x.sig'), ...m], env);
    assert.equal(noPin.code, 2, noPin.stderr);
    assert.match(noPin.stderr, /--pin-file/);
  });

  it('sign with a key that cannot sign (ECDH): exit 7; with no such key: exit 6 before any PIN is asked', async () => {
    const ecdh = await runCli(['sign', '--key', 'cli-ecdh', '--in', data, '--out', join(tmp.dir, 'x.sig'), '--pin-file', pinFile, ...m], env);
    assert.equal(ecdh.code, 7, ecdh.stderr);
    assert.match(ecdh.stderr, /NTE_NOT_SUPPORTED/);
    const missing = await runCli(['sign', '--key', 'no-such-key', '--in', data, '--out', join(tmp.dir, 'x.sig'), ...m], env);
    assert.equal(missing.code, 6, missing.stderr);
    assert.match(missing.stderr, /NTE_BAD_KEYSET/);
  });

  it('cache show --json lists the card\'s cached items; cache clear --card empties them', async () => {
    const cards = json<CardsDocument>(await runCli(['cards', '--json', ...m], env));
    const guid = cards.cards.find((c) => c.label === LABEL)!.cardGuid;
    const before = json<CacheDocument>(await runCli(['cache', 'show', '--json'], env));
    assert.equal(before.schema, 'p11-ksp/cache/v1');
    const cached = before.global.cards.find((c) => c.cardGuid === guid);
    assert.ok(cached && cached.items.length > 0, JSON.stringify(before));
    assert.ok(cached.items.some((i) => i.name.includes('cmapfile')), 'the container map is cached');
    assert.equal(cached.bytes, cached.items.reduce((n, i) => n + i.bytes, 0));
    assert.match(before.perProcess.pinCache, /no other process/);
    const cleared = ok(await runCli(['cache', 'clear', '--card', guid], env));
    assert.match(cleared.stdout, new RegExp(`Cleared ${cached.items.length} item\\(s\\) of 1 card`));
    const after = json<CacheDocument>(await runCli(['cache', 'show', '--json'], env));
    assert.equal(after.global.cards.some((c) => c.cardGuid === guid), false);
    const bad = await runCli(['cache', 'clear', '--card', 'not-a-guid'], env);
    assert.equal(bad.code, 2);
  });

  it('containers delete removes the keys pkcs11-tool saw; a second delete: exit 6', async () => {
    ok(await runCli(['containers', 'delete', 'cli-ecdh', '--pin-file', pinFile, ...m], env));
    assert.equal(listObjects(toolToken, 'privkey').some((k) => k.label === 'cli-ecdh'), false);
    const again = await runCli(['containers', 'delete', 'cli-ecdh', ...m], env);
    assert.equal(again.code, 6, again.stderr);
    assert.match(again.stderr, /NTE_BAD_KEYSET/);
  });

  it('--pin on the command line is refused (exit 2) without echoing it', async () => {
    const r = await runCli(['sign', '--key', 'cli-rsa', '--in', data, '--out', '-', '--pin', 'secret-in-argv', ...m], env);
    assert.equal(r.code, 2);
    assert.equal((r.stdout + r.stderr).includes('secret-in-argv'), false);
  });
});

describe('p11-ksp card verbs: a blocked PIN (pin-counter shim over SoftHSM2)', function () {
  this.timeout(120_000);
  const tmp = tempDir();
  const env = { P11KSP_HOME: join(tmp.dir, 'home'), ...STORE_ENV };
  const label = 'cli-blocked';
  const pin = 'blocked-pin-77aa';
  after(() => tmp.remove());

  it('wrong PINs give exit 3 until the card blocks the PIN, then exit 4 even for the right one', async () => {
    if (!STORE.tokens.some((t) => t.label === label)) STORE.addToken({ label, pin });
    // The shim's settings go to the CLI's processes only: process.env stays as it is, for the suites
    // that load the shim in this process after this one.
    const shim = { modulePath: buildPinCounterShim(), env: pinCounterEnv({ maxTries: 3, lockOnLast: true, stateDir: join(tmp.dir, 'shim-state') }) };
    const shimEnv = { ...env, ...shim.env };
    const m = ['--module', shim.modulePath, '--reader'];
    const cards = json<CardsDocument>(await runCli(['cards', '--json', '--module', shim.modulePath], shimEnv));
    const reader = cards.cards.find((c) => c.label === label)!.reader;
    const pinFile = writePinFile(tmp.dir, 'pin', pin);
    const wrong = writePinFile(tmp.dir, 'wrong', 'wrong-pin-1');
    ok(await runCli(['containers', 'create', 'blk', '--algorithm', 'ECDSA_P256', '--pin-file', pinFile, ...m, reader], shimEnv));
    const data = join(tmp.dir, 'data');
    writeFileSync(data, 'x');
    const sign = (file: string): Promise<CliResult> => runCli(['sign', '--key', 'blk', '--in', data, '--out', join(tmp.dir, 'sig'), '--pin-file', file, ...m, reader], shimEnv);
    assert.equal((await sign(wrong)).code, 3);
    assert.equal((await sign(wrong)).code, 3);
    const last = await sign(wrong);
    assert.equal(last.code, 4, last.stderr);
    assert.match(last.stderr, /SCARD_W_CHV_BLOCKED/);
    const right = await sign(pinFile);
    assert.equal(right.code, 4, right.stderr);
  });
});

describe('p11-ksp card verbs on the embedded store', function () {
  this.timeout(120_000);
  const tmp = tempDir();
  const env = { P11KSP_HOME: join(tmp.dir, 'home') };
  const userPin = 'embedded-pin-3c9d';
  after(() => tmp.remove());

  it('init, create, list, sign, verify and delete with no --module, served by the embedded registration', async () => {
    const pinFile = writePinFile(tmp.dir, 'pin', userPin);
    const soPinFile = writePinFile(tmp.dir, 'so-pin', 'embedded-so-8e21');
    ok(await runCli(['init', '--pin-file', pinFile, '--so-pin-file', soPinFile], env));
    const cards = json<CardsDocument>(await runCli(['cards', '--json'], env));
    assert.deepEqual(cards.cards.map((c) => [c.label, c.registration]), [['p11-ksp', 'embedded-softhsm2']]);

    ok(await runCli(['containers', 'create', 'home-key', '--pin-file', pinFile], env));
    const list = json<ContainersDocument>(await runCli(['containers', 'list', '--json'], env));
    assert.deepEqual(list.containers.map((c) => [c.name, c.isDefault, c.keys.map((k) => `${k.keySpec} ${k.algorithm} ${k.bits}`)]), [['home-key', true, ['exchange RSA 2048']]]);
    const human = ok(await runCli(['containers', 'list'], env));
    assert.match(human.stdout, /\* home-key/);

    const data = join(tmp.dir, 'data');
    const sig = join(tmp.dir, 'sig');
    writeFileSync(data, 'embedded store data');
    ok(await runCli(['sign', '--key', 'home-key', '--in', data, '--out', sig, '--pin-file', pinFile], env));
    ok(await runCli(['verify', '--key', 'home-key', '--signature', sig, '--in', data], env));
    writeFileSync(data, 'changed');
    assert.equal((await runCli(['verify', '--key', 'home-key', '--signature', sig, '--in', data], env)).code, 10);

    ok(await runCli(['containers', 'delete', 'home-key', '--pin-file', pinFile], env));
    const empty = json<ContainersDocument>(await runCli(['containers', 'list', '--json'], env));
    assert.deepEqual(empty.containers, []);
  });
});
