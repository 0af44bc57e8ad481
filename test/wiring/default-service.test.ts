/**
 * The package wiring (default-service.ts), in child processes because it sets SOFTHSM2_CONF for the
 * embedded store, which must happen before the process loads SoftHSM2: with nothing registered the
 * embedded store serves; with registrations, they do; the root export carries the whole API.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RegistryStore } from '../../smartcard/registry/index.js';
import { makeToken, rig, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';

const T = makeToken('wiring-a');
const root = fileURLToPath(new URL('../../index.js', import.meta.url));

function inChild(env: NodeJS.ProcessEnv, body: string): unknown {
  const program = `
    const p11 = await import(${JSON.stringify(root)});
    const service = await p11.createSmartCardService();
    try { ${body} } finally { await service.close(); }`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', program], { env, encoding: 'utf8' }));
}

describe('package wiring: createSmartCardService', function () {
  this.timeout(60_000);
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'p11ksp-wiring-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('with nothing registered, the embedded SoftHSM2 store in P11KSP_HOME serves', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, P11KSP_HOME: home };
    delete env.SOFTHSM2_CONF;
    const seen = inChild(env, `
      const entries = await service.snapshot();
      process.stdout.write(JSON.stringify({ conf: process.env.SOFTHSM2_CONF, providers: [...new Set(entries.map((e) => e.provider ?? null))], readers: entries.length }));`) as { conf: string; providers: (string | null)[]; readers: number };
    assert.equal(seen.conf, join(home, 'softhsm2.conf'));
    assert.ok(seen.readers >= 1, 'the embedded store offers at least its free slot');
    assert.deepEqual(seen.providers, ['embedded-softhsm2']);
  });

  it('registered providers serve instead, and a card of theirs reports its GUID through SCardStatus', async () => {
    await new RegistryStore(home).add({ name: 'team-hsm', kind: 'minidriver', module: SOFTHSM2_MODULE, match: { label: 'wiring-*' } });
    const env = { ...rig.env(), P11KSP_HOME: home };
    const seen = inChild(env, `
      const entry = (await service.snapshot()).find((e) => e.card?.label === ${JSON.stringify(T.label)});
      const status = await service.SCardStatus(entry.szReader);
      process.stdout.write(JSON.stringify({ provider: status.provider, guid: status.guid?.toString('hex') ?? null, serial: status.card?.serial }));`) as { provider: string; guid: string | null; serial: string };
    assert.equal(seen.provider, 'team-hsm');
    assert.equal(seen.serial, T.serial);
    assert.match(seen.guid ?? '', /^[0-9a-f]{32}$/, 'the card GUID (cardid) is reported');
  });
});
