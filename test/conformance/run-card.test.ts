// runConformance against a real smart card stack: the emulated CAC card (libcacard behind vpcd and a
// private pcscd) through OpenSC's PKCS#11 module — a read-only card with three RSA keys and their
// certificates, no key generation, no PIN change. What a user of a PIV/CAC card sees.
import { strict as assert } from 'node:assert';
import { ALL_AREAS } from '../../conformance/areas/index.js';
import { AREAS, type RunEvent, type RunResult } from '../../conformance/case.js';
import { runConformance } from '../../conformance/index.js';
import { moduleReferences } from '../../pkcs11-bridge/index.js';
import { OPENSC_MODULE, startVirtualCard, type VirtualCard } from '../rigs/index.js';
import { assertConsistent, failures } from './run-helpers.js';

/** `area/id` of every case that writes to the card. */
const DESTRUCTIVE = new Set(ALL_AREAS.flatMap((a) => a.cases.filter((c) => c.requires?.destructive).map((c) => `${a.id}/${c.id}`)));

describe('conformance runner on the emulated CAC card (OpenSC)', function () {
  this.timeout(900_000);
  let card: VirtualCard;
  let outcome: { result: RunResult; events: RunEvent[]; asked: number };

  before(async function () {
    this.timeout(120_000);
    card = await startVirtualCard({ maxTries: 3 });
    // OpenSC reads PCSCLITE_CSOCK_NAME when it is loaded: the runner loads it after this.
    process.env.PCSCLITE_CSOCK_NAME = card.socketPath;
    const events: RunEvent[] = [];
    let asked = 0;
    const result = await runConformance({
      target: { kind: 'module', module: OPENSC_MODULE, tokenLabel: card.label },
      pin: async () => {
        asked++;
        return Buffer.from(card.pin, 'utf8');
      },
      allowDestructive: true,
      onEvent: (e) => events.push(e),
    });
    outcome = { result, events, asked };
  });

  after(async function () {
    this.timeout(60_000);
    await card?.stop();
  });

  it('passes every case that applies, in every area', () => {
    const { result, events } = outcome;
    assertConsistent(result, events);
    assert.deepEqual(result.areas.map((a) => a.id), [...AREAS]);
    assert.equal(result.totals.failed, 0, failures(result));
    assert.ok(result.totals.passed > 10, `cases ran and passed (${result.totals.passed})`);
    assert.equal(result.target.label, card.label);
    assert.ok(outcome.asked <= 1, 'the PIN was asked at most once');
    assert.ok(!JSON.stringify([result, events]).includes(card.pin), 'the PIN is nowhere in the result or the events');
  });

  it('probes a read-only RSA card: its three containers with certificates, no curves, no import, no PIN change', () => {
    const cap = outcome.result.capabilities;
    assert.equal(cap.readOnly, true);
    assert.equal(cap.existingContainers.length, card.keys.length);
    assert.ok(cap.existingContainers.every((c) => c.hasCertificate && c.keys.length === 1 && c.keys[0]!.algorithm === 'RSA'));
    assert.deepEqual(cap.rsaKeySizes, [2048]);
    assert.deepEqual(cap.ecCurves, []);
    assert.equal(cap.keyImport, false);
    assert.equal(cap.pinChange, false);
  });

  it('marks every case that writes not applicable even with --allow-destructive', () => {
    const writes = outcome.result.results.filter((r) => DESTRUCTIVE.has(`${r.area}/${r.id}`));
    assert.ok(writes.length > 0);
    for (const r of writes) assert.equal(r.outcome.status, 'not-applicable', `${r.area}/${r.id}`);
  });

  it('frees everything: OpenSC is no longer loaded after the run', () => {
    assert.equal(moduleReferences(OPENSC_MODULE), 0);
  });
});
