// The card verbs on the emulated CAC smart card (OpenSC over pcscd/vpcd/libcacard, test/real-card/
// fixture.ts): `cards` shows the ATR pcscd reports, `containers list` and `certs` the card's keys and
// certificates as the rig made them, and `sign` makes a signature the rig's public key verifies.
import { strict as assert } from 'node:assert';
import { createHash, verify as verifySignature } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CardsDocument, CertsDocument, ContainersDocument } from '../../cli/json-schema.js';
import { realCardFixture } from '../real-card/fixture.js';
import { OPENSC_MODULE } from '../rigs/index.js';
import { type CliResult, runCli, tempDir, writePinFile } from './harness.js';

function json<T>(r: CliResult): T {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe('p11-ksp card verbs on the emulated CAC card', function () {
  this.timeout(120_000);
  const fixture = realCardFixture();
  const tmp = tempDir();
  const m = ['--module', OPENSC_MODULE];
  // The rig's pcscd socket (PCSCLITE_CSOCK_NAME) for the CLI's OpenSC; the home is the test's own.
  const env = (): NodeJS.ProcessEnv => ({ P11KSP_HOME: join(tmp.dir, 'home'), ...fixture.card.env });
  after(() => tmp.remove());

  it('cards shows the card\'s ATR as pcscd reports it, its identity and that it is read-only', async () => {
    const doc = json<CardsDocument>(await runCli(['cards', '--json', ...m], env()));
    const card = doc.cards.find((c) => c.label === fixture.card.label);
    assert.ok(card, JSON.stringify(doc));
    assert.equal(card.atr, fixture.card.atr.toLowerCase().replace(/[^0-9a-f]/g, ''));
    assert.equal(card.reader, fixture.reader);
    assert.equal(card.readOnly, true);
    const human = await runCli(['cards', ...m], env());
    assert.equal(human.code, 0, human.stderr);
    const spaced = card.atr!.match(/../g)!.join(' ');
    assert.ok(human.stdout.includes(`ATR:            ${spaced}`), human.stdout);
  });

  it('containers list and certs show the rig\'s keys and certificates; --export writes their DER', async () => {
    const list = json<ContainersDocument>(await runCli(['containers', 'list', '--json', ...m], env()));
    const keys = list.containers.flatMap((c) => c.keys);
    assert.equal(keys.length, fixture.card.keys.length);
    for (const k of keys) assert.deepEqual({ ...k, keySpec: undefined }, { keySpec: undefined, algorithm: 'RSA', bits: 2048, hasCertificate: true });

    const out = join(tmp.dir, 'export');
    const certs = json<CertsDocument>(await runCli(['certs', '--json', '--export', out, ...m], env()));
    assert.equal(certs.schema, 'p11-ksp/certs/v1');
    const expected = fixture.card.keys.map((k) => createHash('sha1').update(Buffer.from(k.certificate.raw)).digest('hex')).sort();
    assert.deepEqual(certs.certificates.map((c) => c.sha1Thumbprint).sort(), expected);
    for (const c of certs.certificates) {
      const key = fixture.card.keys.find((k) => createHash('sha1').update(Buffer.from(k.certificate.raw)).digest('hex') === c.sha1Thumbprint)!;
      assert.match(c.subject, new RegExp(`CN=${key.commonName}`));
      assert.equal(c.notAfter, new Date(key.certificate.validTo).toISOString());
      assert.ok(list.containers.some((x) => x.name === c.container), `certificate of an unlisted container ${c.container}`);
      assert.deepEqual(readFileSync(c.file!), key.certificate.raw, 'the exported .cer is the DER certificate');
    }
  });

  it('sign with a card key: the rig\'s public key verifies the signature', async () => {
    const certs = json<CertsDocument>(await runCli(['certs', '--json', ...m], env()));
    const first = certs.certificates[0]!;
    const key = fixture.card.keys.find((k) => createHash('sha1').update(Buffer.from(k.certificate.raw)).digest('hex') === first.sha1Thumbprint)!;
    const data = join(tmp.dir, 'data');
    const sig = join(tmp.dir, 'sig');
    writeFileSync(data, 'signed on the emulated CAC\n');
    const pinFile = writePinFile(tmp.dir, 'pin', fixture.card.pin);
    const r = await runCli(['sign', '--key', first.container, '--in', data, '--out', sig, '--pin-file', pinFile, ...m], env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(verifySignature('sha256', readFileSync(data), key.publicKey, readFileSync(sig)), true);
  });
});
