// Under a real pseudo-terminal (util-linux `script`): PINs are asked hidden, twice for a new PIN, and
// nothing typed is echoed.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli, runInTerminal, tempDir } from './harness.js';

const USER_PIN = 'typed-user-pin-93c1';
const SO_PIN = 'typed-so-pin-4d7e';

function hasScript(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('p11-ksp on a terminal', function () {
  this.timeout(120_000);
  const tmp = tempDir();
  const env = { P11KSP_HOME: join(tmp.dir, 'home') };
  before(function () {
    if (!hasScript()) this.skip(); // util-linux `script` makes the pseudo-terminal
  });
  after(() => tmp.remove());

  it('init asks each PIN twice, hidden, and creates the token', async () => {
    const { code, screen } = await runInTerminal(['init'], env, [
      { prompt: /Choose the user PIN/, answer: USER_PIN },
      { prompt: /Repeat the user PIN/, answer: USER_PIN },
      { prompt: /Choose the SO PIN/, answer: SO_PIN },
      { prompt: /Repeat the SO PIN/, answer: SO_PIN },
    ]);
    assert.equal(code, 0, screen);
    assert.match(screen, /Created token "p11-ksp"/);
    assert.equal(screen.includes(USER_PIN), false, 'the user PIN was echoed');
    assert.equal(screen.includes(SO_PIN), false, 'the SO PIN was echoed');
    assert.equal(screen.includes('*'.repeat(4)), false, 'not even a mask is shown');
    const readers = JSON.parse((await runCli(['readers', '--json'], env)).stdout) as { readers: { card: { label: string } | null }[] };
    assert.ok(readers.readers.some((r) => r.card?.label === 'p11-ksp'));
  });

  it('demo on a terminal uses the home token and asks its PIN hidden', async () => {
    const { code, screen } = await runInTerminal(['demo'], env, [{ prompt: /Enter the user PIN/, answer: USER_PIN }]);
    assert.equal(code, 0, screen);
    assert.match(screen, /\[1\/8\] open the card: .*card "p11-ksp"/);
    assert.match(screen, /\[8\/8\] clean up: container \d+ deleted/);
    assert.equal(screen.includes(USER_PIN), false, 'the PIN was echoed');
  });

  it('demo on a terminal with no token yet sets one up first, then uses the PIN just chosen', async () => {
    const fresh = { P11KSP_HOME: join(tmp.dir, 'fresh-home') };
    const { code, screen } = await runInTerminal(['demo'], fresh, [
      { prompt: /Choose the user PIN/, answer: USER_PIN },
      { prompt: /Repeat the user PIN/, answer: USER_PIN },
      { prompt: /Choose the SO PIN/, answer: SO_PIN },
      { prompt: /Repeat the SO PIN/, answer: SO_PIN },
    ]);
    assert.equal(code, 0, screen);
    assert.equal(/Enter the user PIN/.test(screen), false, 'asked for the PIN again');
    assert.match(screen, /\[8\/8\] clean up/);
    assert.equal(screen.includes(USER_PIN) || screen.includes(SO_PIN), false, 'a PIN was echoed');
  });

  it('a mistyped confirmation is asked again, and a short PIN is refused at the prompt', async () => {
    const other = { P11KSP_HOME: join(tmp.dir, 'other-home') };
    const { code, screen } = await runInTerminal(['init'], other, [
      { prompt: /Choose the user PIN/, answer: 'abc' },
      { prompt: /too short/, answer: 'd' }, // the prompt keeps "abc" and asks for more
      { prompt: /Repeat the user PIN/, answer: 'mistyped' },
      { prompt: /differ; try again[\s\S]*Choose the user PIN/, answer: USER_PIN },
      { prompt: /Repeat the user PIN/, answer: USER_PIN },
      { prompt: /Choose the SO PIN/, answer: SO_PIN },
      { prompt: /Repeat the SO PIN/, answer: SO_PIN },
    ]);
    assert.equal(code, 0, screen);
    assert.match(screen, /Created token/);
    assert.equal(screen.includes('mistyped') || screen.includes(USER_PIN), false, 'typed text was echoed');
  });
});
