// `sign` under a real pseudo-terminal (util-linux `script`): with no --pin-file the PIN is asked at a
// hidden prompt, typed there, and never shown — not in the terminal, not as a mask — and the signature
// made with it verifies against the key pkcs11-tool reads from the token.
import { strict as assert } from 'node:assert';
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CardsDocument } from '../../cli/json-schema.js';
import { runPkcs11Tool, SOFTHSM2_MODULE, SoftHsmRig } from '../rigs/index.js';
import { runCli, runInTerminal, tempDir, writePinFile } from './harness.js';

const LABEL = 'cli-prompt';
const PIN = 'typed-at-prompt-61f0';

describe('p11-ksp sign at a hidden PIN prompt', function () {
  this.timeout(120_000);
  const tmp = tempDir();
  // A store of its own: `cards` opens every card its process sees (see SoftHsmRig.private).
  const store = SoftHsmRig.private();
  const env = { P11KSP_HOME: join(tmp.dir, 'home'), SOFTHSM2_CONF: store.confPath };
  const m = ['--module', SOFTHSM2_MODULE];
  const data = join(tmp.dir, 'data');
  after(() => tmp.remove());

  before(async () => {
    store.addToken({ label: LABEL, pin: PIN });
    writeFileSync(data, 'signed after typing the PIN\n');
    const cards = JSON.parse((await runCli(['cards', '--json', ...m], env)).stdout) as CardsDocument;
    const reader = cards.cards.find((c) => c.label === LABEL)!.reader;
    const made = await runCli(['containers', 'create', 'prompt-key', '--reader', reader, '--pin-file', writePinFile(tmp.dir, 'pin', PIN), ...m], env);
    assert.equal(made.code, 0, made.stderr);
  });

  it('asks the PIN hidden, signs with it, and the PIN never appears on the screen', async () => {
    const sig = join(tmp.dir, 'sig');
    const { code, screen } = await runInTerminal(['sign', '--key', 'prompt-key', '--in', data, '--out', sig, ...m], env,
      [{ prompt: /Enter the user PIN/, answer: PIN }]);
    assert.equal(code, 0, screen);
    assert.equal(screen.includes(PIN), false, 'the PIN was echoed');
    assert.equal(/\*{4}/.test(screen), false, 'not even a mask is shown');
    assert.match(screen, /256-byte signature written to/);

    const spki = join(tmp.dir, 'key.der');
    runPkcs11Tool(['--module', SOFTHSM2_MODULE, '--token-label', LABEL, '--read-object', '--type', 'pubkey', '--label', 'prompt-key', '-o', spki], store.env());
    const key = createPublicKey({ key: readFileSync(spki), format: 'der', type: 'spki' });
    assert.equal(verifySignature('sha256', readFileSync(data), key, readFileSync(sig)), true);
  });

  it('a wrong PIN typed at the prompt: exit 3, and the typed text is not shown', async () => {
    const typed = 'mistyped-pin-0000';
    const { code, screen } = await runInTerminal(['sign', '--key', 'prompt-key', '--in', data, '--out', join(tmp.dir, 'sig2'), ...m], env,
      [{ prompt: /Enter the user PIN/, answer: typed }]);
    assert.equal(code, 3, screen);
    assert.match(screen, /SCARD_W_WRONG_CHV/);
    assert.equal(screen.includes(typed), false, 'the typed PIN was echoed');
  });
});
