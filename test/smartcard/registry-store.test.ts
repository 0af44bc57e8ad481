import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CardReaderState } from '../../minidriver/card-module.js';
import { CryptError } from '../../minidriver/errors.js';
import { fileNameFor, nameFromFileName, type RegistrationInput, RegistryStore, selectProvider } from '../../smartcard/registry/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const reader: CardReaderState = {
  szReader: 'Reader 0',
  cardPresent: true,
  card: { label: 'alice', serial: '01', manufacturer: 'SoftHSM project', model: 'SoftHSM v2' },
};

function input(name: string, fields: Partial<RegistrationInput> = {}): RegistrationInput {
  return { name, kind: 'minidriver', module: `/usr/lib/${name}.so`, match: { model: 'SoftHSM*' }, ...fields };
}

async function expectRejects(promise: Promise<unknown>, codeName: string): Promise<CryptError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CryptError, `expected CryptError ${codeName}, got ${String(err)}`);
    assert.equal(err.codeName, codeName, err.message);
    return err;
  }
  assert.fail(`expected ${codeName}, but the call succeeded`);
}

function run(script: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${script} exited ${code}: ${stderr}`))));
  });
}

describe('smartcard registry: store', () => {
  let home: string;
  beforeEach(async () => {
    home = await fs.mkdtemp(join(tmpdir(), 'p11ksp-registry-'));
  });
  afterEach(async () => {
    await fs.rm(home, { recursive: true, force: true });
  });

  it('encodes names into safe file names and back', () => {
    for (const name of ['.', '..', 'My Card v1.0', 'a_b-c', '-x']) {
      const file = fileNameFor(name);
      assert.match(file, /^[A-Za-z0-9_%-]+\.json$/);
      assert.equal(nameFromFileName(file), name);
    }
  });

  it('creates providers/ private to the user and one file per registration', async () => {
    const store = new RegistryStore(home);
    const reg = await store.add(input('My Card'));
    assert.equal(reg.installSequence, 1);
    assert.equal((await fs.stat(store.dir)).mode & 0o777, 0o700);
    assert.equal((await fs.stat(join(store.dir, fileNameFor('My Card')))).mode & 0o777, 0o600);
    assert.deepEqual(await store.get('My Card'), reg);
    assert.equal(await store.get('absent'), undefined);
  });

  it('refuses an existing name with NTE_EXISTS, replaces on request as a fresh install', async () => {
    const store = new RegistryStore(home);
    const first = await store.add(input('card'));
    await expectRejects(store.add(input('card')), 'NTE_EXISTS');
    const second = await store.add(input('card', { priority: 3 }), { replace: true });
    assert.ok(second.installSequence > first.installSequence);
    assert.equal((await store.get('card'))?.priority, 3);
  });

  it('refuses invalid input before touching the disk', async () => {
    const store = new RegistryStore(home);
    await expectRejects(store.add(input('bad/name')), 'SCARD_E_INVALID_PARAMETER');
    await assert.rejects(fs.stat(store.dir));
  });

  it('remove: NTE_NOT_FOUND when absent', async () => {
    const store = new RegistryStore(home);
    await expectRejects(store.remove('nothing'), 'NTE_NOT_FOUND');
    await store.add(input('x'));
    await store.remove('x');
    await expectRejects(store.remove('x'), 'NTE_NOT_FOUND');
  });

  it('most recent wins; removing it hands the card back; priority overrides', async () => {
    // One frozen clock: every install in "the same millisecond", so installSequence decides.
    const store = new RegistryStore(home, { now: () => new Date('2026-03-01T12:00:00.000Z') });
    await store.add(input('first'));
    await store.add(input('second'));
    await store.add(input('third'));
    const winner = async () => selectProvider((await store.list()).registrations, reader)?.name;
    assert.equal(await winner(), 'third');
    await store.remove('third');
    assert.equal(await winner(), 'second');
    await store.add(input('pinned', { priority: 10 }));
    await store.add(input('latest'));
    assert.equal(await winner(), 'pinned');
    await store.remove('pinned');
    assert.equal(await winner(), 'latest');
  });

  it('leaves no temporary or lock files behind', async () => {
    const store = new RegistryStore(home);
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.add(input(`c${i}`))));
    await store.remove('c3');
    const files = (await fs.readdir(store.dir)).sort();
    assert.deepEqual(files.filter((f) => f.startsWith('.')), ['.sequence']);
    assert.equal(files.filter((f) => f.endsWith('.json')).length, 9);
    const sequences = (await store.list()).registrations.map((r) => r.installSequence);
    assert.equal(new Set(sequences).size, 9);
  });

  it('skips and reports corrupt files instead of failing', async () => {
    const store = new RegistryStore(home);
    await store.add(input('good'));
    await fs.writeFile(join(store.dir, 'broken.json'), '{"name": "broken", ');
    await fs.writeFile(join(store.dir, 'wrong%20name.json'), JSON.stringify({ ...input('other'), installedAt: new Date().toISOString(), installSequence: 5 }));
    await fs.writeFile(join(store.dir, 'badatr.json'), JSON.stringify({ ...input('badatr', { match: { atr: 'zz' } }), installedAt: new Date().toISOString(), installSequence: 6 }));
    const { registrations, problems } = await store.list();
    assert.deepEqual(registrations.map((r) => r.name), ['good']);
    assert.equal(problems.length, 3);
    assert.ok(problems.some((p) => p.file.endsWith('broken.json') && /not valid JSON/.test(p.error)));
    // The counter still moves past what is on disk.
    assert.ok((await store.add(input('next'))).installSequence > 1);
  });

  it('never lets a new install look older than one already stored, even without the counter', async () => {
    const store = new RegistryStore(home);
    await store.add(input('a'));
    await store.add(input('b'));
    await fs.rm(join(store.dir, '.sequence'));
    assert.equal((await store.add(input('c'))).installSequence, 3);
  });

  it('breaks a lock left behind by a dead process, and times out on a live one', async () => {
    const store = new RegistryStore(home, { staleLockMs: 0, lockTimeoutMs: 300 });
    await fs.mkdir(store.dir, { recursive: true });
    const lock = join(store.dir, '.lock');
    // A pid that cannot be running (above the kernel's pid_max limit).
    await fs.writeFile(lock, '4194304999\n');
    await store.add(input('after-crash'));
    await fs.writeFile(lock, `${process.pid}\n`);
    await expectRejects(store.add(input('blocked')), 'SCARD_E_TIMEOUT');
    await fs.rm(lock);
  });

  it('two processes installing 20 each at once end with 40 files and 40 distinct sequences', async function () {
    this.timeout(60_000);
    const script = join(here, 'fixtures', 'registry-adder.js');
    await Promise.all([run(script, [home, 'alpha', '20']), run(script, [home, 'beta', '20'])]);
    const store = new RegistryStore(home);
    const files = (await fs.readdir(store.dir)).filter((f) => f.endsWith('.json'));
    assert.equal(files.length, 40);
    const { registrations, problems } = await store.list();
    assert.deepEqual(problems, []);
    const sequences = new Set(registrations.map((r) => r.installSequence));
    assert.equal(sequences.size, 40);
    assert.deepEqual([...sequences].sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1));
    assert.deepEqual((await fs.readdir(store.dir)).filter((f) => f.startsWith('.')), ['.sequence']);
  });
});
