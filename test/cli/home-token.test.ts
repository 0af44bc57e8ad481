// The embedded store (P11KSP_HOME): init with PIN files, idempotence, readers, and the demo on it.
import { strict as assert } from 'node:assert';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, stepLines, tempDir, writePinFile } from './harness.js';

const USER_PIN = 'user-pin-7f3a9c';
const SO_PIN = 'so-pin-51e2d8';

describe('p11-ksp init, readers and demo on the embedded store', function () {
  this.timeout(120_000);
  const tmp = tempDir();
  const home = join(tmp.dir, 'home');
  const env = { P11KSP_HOME: home };
  const pinFile = writePinFile(tmp.dir, 'pin', USER_PIN);
  const soPinFile = writePinFile(tmp.dir, 'so-pin', SO_PIN);
  const everything: string[] = [];
  const run = async (args: string[]) => {
    const r = await runCli(args, env);
    everything.push(r.stdout, r.stderr);
    return r;
  };
  after(() => tmp.remove());

  it('init without a terminal and without PIN files is a usage error naming --pin-file', async () => {
    const r = await run(['init']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--pin-file/);
    assert.equal(r.stdout, '');
  });

  it('refuses a PIN on the command line without repeating it', async () => {
    for (const args of [['init', '--pin', USER_PIN], ['init', `--pin=${USER_PIN}`], ['demo', `--so-pin=${SO_PIN}`]]) {
      const r = await run(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /never taken from the command line/);
    }
  });

  it('init --pin-file --so-pin-file creates the token in a private home', async () => {
    const r = await run(['init', '--pin-file', pinFile, '--so-pin-file', soPinFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Created token "p11-ksp" \(serial [0-9a-f]+\)/);
    assert.equal(statSync(home).mode & 0o777, 0o700);
    const conf = readFileSync(join(home, 'softhsm2.conf'), 'utf8');
    assert.match(conf, new RegExp(`directories.tokendir = ${join(home, 'softhsm', 'tokens')}`));
    assert.match(conf, /objectstore.backend = file/);
  });

  it('a second init is a no-op that exits 0', async () => {
    const r = await run(['init']); // no PIN files needed: nothing to set up
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /already exists/);
  });

  it('readers --json parses and lists the initialised token', async () => {
    const r = await run(['readers', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { schema: string; home: string; readers: { initialised: boolean; card: { label: string; serial: string } | null }[] };
    assert.equal(doc.schema, 'p11-ksp/readers/v1');
    assert.equal(doc.home, home);
    const cards = doc.readers.filter((x) => x.initialised);
    assert.equal(cards.length, 1);
    assert.equal(cards[0]!.card!.label, 'p11-ksp');
    assert.ok(doc.readers.some((x) => !x.initialised), 'SoftHSM2 offers a blank slot too');
  });

  it('readers prints one line per reader for people', async () => {
    const r = await run(['readers']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /card "p11-ksp"\s+serial [0-9a-f]+/);
    assert.match(r.stdout, /blank token/);
  });

  it('demo --pin-file runs on the home token and leaves nothing behind (twice: same free record)', async () => {
    for (let round = 0; round < 2; round++) {
      const r = await run(['demo', '--pin-file', pinFile]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const steps = stepLines(r.stdout);
      assert.equal(steps.length, 8);
      assert.match(steps[0]!, /card "p11-ksp"/);
      // The container of the first round was deleted, so the second gets the same record again.
      assert.match(steps[2]!, /cmapfile record 0 /);
      assert.match(steps[4]!, /verified/);
      assert.match(steps[6]!, /match/);
    }
  });

  it('a wrong PIN exits 3 with SCARD_W_WRONG_CHV on stderr', async () => {
    const wrong = writePinFile(tmp.dir, 'wrong', 'not-the-pin');
    const r = await run(['demo', '--pin-file', wrong]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /SCARD_W_WRONG_CHV/);
    assert.match(r.stdout, /\[2\/8\] FAILED authenticate/);
  });

  it('--json failures still print one JSON document, with the error', async () => {
    const wrong = writePinFile(tmp.dir, 'wrong2', 'not-the-pin');
    const r = await run(['demo', '--json', '--pin-file', wrong]);
    assert.equal(r.code, 3);
    const doc = JSON.parse(r.stdout) as { ok: boolean; error: { codeName: string } };
    assert.equal(doc.ok, false);
    assert.equal(doc.error.codeName, 'SCARD_W_WRONG_CHV');
  });

  it('never prints the PINs', () => {
    const all = everything.join('\n');
    assert.ok(all.length > 0);
    assert.equal(all.includes(USER_PIN), false, 'user PIN printed');
    assert.equal(all.includes(SO_PIN), false, 'SO PIN printed');
  });
});
