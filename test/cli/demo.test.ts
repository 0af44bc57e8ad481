// `p11-ksp demo` with no terminal (CI, the README's first command): a throw-away token, all 8 steps.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { runCli, stepLines, tempDir } from './harness.js';

describe('p11-ksp demo without a terminal', function () {
  this.timeout(120_000);
  const home = tempDir();
  after(() => home.remove());

  it('runs the 8 steps on a throw-away token, verifies, unwraps, and deletes the store', async () => {
    const r = await runCli(['demo'], { P11KSP_HOME: home.dir });
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const steps = stepLines(r.stdout);
    assert.equal(steps.length, 8, r.stdout);
    steps.forEach((line, i) => assert.ok(line.startsWith(`[${i + 1}/8] `) && !line.includes('FAILED'), line));
    assert.match(steps[0]!, /CARD_DATA version 7, card GUID \{[0-9a-f-]{36}\}/);
    assert.match(steps[3]!, /RSA 2048-bit AT_KEYEXCHANGE key/);
    assert.match(steps[4]!, /verified/);
    assert.match(steps[5]!, /SIMPLEBLOB of 268 bytes/);
    assert.match(steps[6]!, /32-byte key: match; .*round trip ok/);
    assert.match(steps[7]!, /deleted/);
    // Diagnostics on stderr, the store deleted at the end.
    const store = /throw-away SoftHSM2 token in (\S+)/.exec(r.stderr)?.[1];
    assert.ok(store, r.stderr);
    assert.equal(existsSync(store), false, `${store} was left behind`);
    // A throw-away run does not touch the embedded home.
    assert.equal(existsSync(`${home.dir}/softhsm2.conf`), false);
  });

  it('--json prints one JSON object with the 8 steps and nothing else on stdout', async () => {
    const r = await runCli(['demo', '--json'], { P11KSP_HOME: home.dir });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { ok: boolean; token: { kind: string }; steps: { n: number; ok: boolean; details: Record<string, unknown> }[] };
    assert.equal(doc.ok, true);
    assert.equal(doc.token.kind, 'throwaway');
    assert.deepEqual(doc.steps.map((s) => s.n), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(doc.steps.every((s) => s.ok));
    assert.equal(doc.steps[4]!.details.verified, true);
    assert.equal(doc.steps[6]!.details.match, true);
    assert.equal(doc.steps[6]!.details.aesRoundTrip, true);
  });
});
