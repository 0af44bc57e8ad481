// `p11-ksp provider add|list|remove|import-p11kit`, run as a child process on a temporary P11KSP_HOME.
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeMatch, rankForListing } from '../../cli/commands/provider.js';
import { ExitCode, exitCodeFor } from '../../cli/exit-codes.js';
import { CryptError } from '../../minidriver/errors.js';
import type { Registration } from '../../smartcard/registry/index.js';
import { runCli, tempDir } from './harness.js';

interface ProviderJson {
  name: string;
  kind: string;
  module?: string;
  plugin?: string;
  match: Record<string, string>;
  priority: number;
  installedAt: string;
  installSequence: number;
  winsOver?: string[];
}
interface ListJson {
  providers: ProviderJson[];
  problems: { file: string; error: string }[];
}

/** Any existing file serves as a "module": add only checks that the path is there. */
const MODULE = process.execPath;
const ATR = '3b:8f:80:01:80:4f:0c:a0';
const MASK = 'ff:ff:ff:ff:ff:ff:00:00';
const P11KIT_DIR = '/usr/share/p11-kit/modules';

/** What import-p11kit should bring in from the package directory: enabled, non-trust module files. */
function expectedP11KitNames(): string[] {
  if (!existsSync(P11KIT_DIR)) return [];
  return readdirSync(P11KIT_DIR)
    .filter((f) => f.endsWith('.module') && !f.startsWith('.'))
    .filter((f) => {
      const text = readFileSync(join(P11KIT_DIR, f), 'utf8');
      return /^\s*module:\s*\S/m.test(text) && !/^\s*trust-policy:\s*(yes|true|1|on)\s*$/im.test(text);
    })
    .map((f) => f.slice(0, -'.module'.length))
    .sort();
}

describe('p11-ksp provider', function () {
  this.timeout(120_000);
  let tmp: { dir: string; remove: () => void };
  let home: string;
  const run = (args: string[]) => runCli(['provider', ...args], { P11KSP_HOME: home });
  const list = async (): Promise<ListJson> => {
    const r = await run(['list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as ListJson & { schema: string };
    assert.equal(doc.schema, 'p11-ksp/providers/v1');
    return doc;
  };

  beforeEach(() => {
    tmp = tempDir('p11ksp-provider-test-');
    home = join(tmp.dir, 'home');
  });
  afterEach(() => tmp.remove());

  it('list on an empty home prints no providers and exits 0', async () => {
    assert.deepEqual(await list(), { schema: 'p11-ksp/providers/v1', providers: [], problems: [] });
    const r = await run(['list']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No providers registered/);
  });

  it('add → list --json shows it, with a file under <home>/providers/', async () => {
    const r = await run(['add', 'Acme Card', '--module', MODULE, '--atr', ATR, '--atr-mask', MASK, '--manufacturer', 'ACME*', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const added = (JSON.parse(r.stdout) as { added: ProviderJson; replaced: boolean }).added;
    assert.equal(added.name, 'Acme Card');
    assert.equal(added.kind, 'minidriver');
    assert.equal(added.module, MODULE);
    assert.deepEqual(added.match, { atr: '3b8f8001804f0ca0', atrMask: 'ffffffffffff0000', manufacturer: 'ACME*' });
    assert.equal(added.priority, 0);

    const doc = await list();
    assert.deepEqual(doc.problems, []);
    assert.equal(doc.providers.length, 1);
    assert.deepEqual(doc.providers[0], added);
    assert.deepEqual(Object.keys(doc.providers[0]!), ['name', 'kind', 'module', 'match', 'priority', 'installedAt', 'installSequence']);
    assert.ok(existsSync(join(home, 'providers', 'Acme%20Card.json')), readdirSync(join(home, 'providers')).join(', '));

    const human = await run(['list']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^NAME\s+KIND\s+MODULE\/PLUGIN\s+MATCH\s+PRIORITY\s+INSTALLED AT$/m);
    assert.match(human.stdout, /Acme Card\s+minidriver\s+\S+\s+atr=3b8f8001804f0ca0\/ffffffffffff0000 manufacturer=ACME\*\s+0\s+\d{4}-/);
  });

  it('two adds for the same card: the later is listed first; --priority overrides; remove hands back', async () => {
    for (const name of ['first', 'second']) {
      const r = await run(['add', name, '--module', MODULE, '--atr', ATR]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Added provider "${name}"`));
    }
    let doc = await list();
    assert.deepEqual(doc.providers.map((p) => p.name), ['second', 'first']);
    assert.deepEqual(doc.providers[0]!.winsOver, ['first']);
    assert.equal(doc.providers[1]!.winsOver, undefined);

    const r = await run(['add', 'preferred', '--module', MODULE, '--atr', ATR, '--priority', '5']);
    assert.equal(r.code, 0, r.stderr);
    const late = await run(['add', 'latest-low', '--module', MODULE, '--atr', ATR, '--priority', '-1']);
    assert.equal(late.code, 0, late.stderr);
    doc = await list();
    assert.deepEqual(doc.providers.map((p) => p.name), ['preferred', 'second', 'first', 'latest-low']);
    assert.deepEqual(doc.providers[0]!.winsOver, ['second', 'first', 'latest-low']);

    const removed = await run(['remove', 'preferred', '--json']);
    assert.equal(removed.code, 0, removed.stderr);
    const body = JSON.parse(removed.stdout) as { removed: string; registration: ProviderJson | null };
    assert.equal(body.removed, 'preferred');
    assert.equal(body.registration?.priority, 5);
    doc = await list();
    assert.deepEqual(doc.providers.map((p) => p.name), ['second', 'first', 'latest-low']);
    assert.ok(!existsSync(join(home, 'providers', 'preferred.json')));
  });

  it('a duplicate add exits 8 with NTE_EXISTS; --replace re-installs it as the most recent', async () => {
    assert.equal((await run(['add', 'dup', '--module', MODULE, '--atr', ATR])).code, 0);
    assert.equal((await run(['add', 'other', '--module', MODULE, '--atr', ATR])).code, 0);
    const again = await run(['add', 'dup', '--module', MODULE]);
    assert.equal(again.code, 8, again.stderr);
    assert.match(again.stderr, /NTE_EXISTS: .*already registered for card type "dup"/);
    assert.equal(again.stdout, '');

    const replaced = await run(['add', 'dup', '--module', MODULE, '--atr', ATR, '--replace', '--json']);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.equal((JSON.parse(replaced.stdout) as { replaced: boolean }).replaced, true);
    assert.deepEqual((await list()).providers.map((p) => p.name), ['dup', 'other']);
  });

  it('remove of an unknown name exits 6 with NTE_NOT_FOUND', async () => {
    const r = await run(['remove', 'nobody']);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /NTE_NOT_FOUND: .*"nobody"/);
  });

  it('bad ATR, bad mask or bad name: SCARD_E_INVALID_PARAMETER on stderr, exit 1, nothing stored', async () => {
    const cases: [string[], RegExp][] = [
      [['add', 'x', '--module', MODULE, '--atr', '3b8'], /odd number of hex digits/],
      [['add', 'x', '--module', MODULE, '--atr', 'zz'], /is not hex/],
      [['add', 'x', '--module', MODULE, '--atr', ATR, '--atr-mask', 'ff'], /must be the same length/],
      [['add', 'bad/name', '--module', MODULE], /is not valid/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /SCARD_E_INVALID_PARAMETER/);
      assert.match(r.stderr, message);
    }
    assert.deepEqual((await list()).providers, []);
  });

  it('usage errors exit 2: missing module path, no --module/--plugin, both, bad --priority, --atr-mask alone', async () => {
    const missing = join(tmp.dir, 'no-such-module.so');
    const r = await run(['add', 'x', '--module', missing]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`--module ${missing} does not exist`));
    for (const args of [
      ['add', 'x'],
      ['add', 'x', '--module', MODULE, '--plugin', MODULE],
      ['add', 'x', '--module', MODULE, '--priority', 'high'],
      ['add', 'x', '--module', MODULE, '--atr-mask', 'ff'],
      ['add', 'x', '--plugin', join(tmp.dir, 'nope.js'), '--atr', ATR],
    ]) {
      const u = await run(args);
      assert.equal(u.code, 2, `${args.join(' ')}: ${u.stderr}`);
    }
    assert.ok(!existsSync(join(home, 'providers')) || readdirSync(join(home, 'providers')).every((f) => !f.endsWith('.json')));
  });

  it('a plug-in registration stores plugin instead of module', async () => {
    const r = await run(['add', 'js-card', '--plugin', MODULE, '--label', 'JS*', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [p] = (await list()).providers;
    assert.equal(p!.kind, 'plugin');
    assert.equal(p!.plugin, MODULE);
    assert.equal(p!.module, undefined);
  });

  it('a damaged registration file is reported as a problem on stderr, the rest still listed', async () => {
    assert.equal((await run(['add', 'good', '--module', MODULE])).code, 0);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(home, 'providers', 'broken.json'), '{ not json');
    const doc = await run(['list', '--json']);
    assert.equal(doc.code, 0, doc.stderr);
    const body = JSON.parse(doc.stdout) as ListJson;
    assert.deepEqual(body.providers.map((p) => p.name), ['good']);
    assert.equal(body.problems.length, 1);
    assert.match(body.problems[0]!.file, /broken\.json$/);
    const human = await run(['list']);
    assert.match(human.stderr, /broken\.json/);
    assert.doesNotMatch(human.stdout, /broken/);
  });

  it('import-p11kit imports the modules p11-kit configures, idempotently', async function () {
    const expected = expectedP11KitNames();
    if (expected.length === 0) this.skip(); // no p11-kit configuration on this machine
    const first = await run(['import-p11kit', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const doc = JSON.parse(first.stdout) as { imported: ProviderJson[]; skipped: string[] };
    const names = doc.imported.map((p) => p.name);
    for (const name of expected) assert.ok(names.includes(name), `${name} not in ${names.join(', ')}`);
    assert.ok(!names.includes('p11-kit-trust'), 'trust-policy modules stay out without --include-trust');
    for (const p of doc.imported) {
      assert.equal(p.kind, 'minidriver');
      assert.deepEqual(p.match, {});
      assert.ok(p.module && p.module.startsWith('/'), p.module);
      assert.ok(existsSync(join(home, 'providers', `${p.name}.json`)), p.name);
    }
    if (expected.includes('softhsm2')) assert.match(doc.imported.find((p) => p.name === 'softhsm2')!.module!, /libsofthsm2\.so$/);

    const second = await run(['import-p11kit', '--json']);
    assert.equal(second.code, 0, second.stderr);
    const again = JSON.parse(second.stdout) as { imported: ProviderJson[]; skipped: string[] };
    assert.deepEqual(again.imported, []);
    assert.deepEqual([...again.skipped].sort(), [...names].sort());
    assert.deepEqual((await list()).providers.map((p) => p.name).sort(), [...names].sort());

    const human = await run(['import-p11kit']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /0 imported, \d+ already registered/);
  });

  it('import-p11kit --include-trust also imports trust-policy modules', async function () {
    if (!existsSync(join(P11KIT_DIR, 'p11-kit-trust.module'))) this.skip();
    const r = await run(['import-p11kit', '--include-trust', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const names = (JSON.parse(r.stdout) as { imported: ProviderJson[] }).imported.map((p) => p.name);
    assert.ok(names.includes('p11-kit-trust'), names.join(', '));
  });
});

describe('p11-ksp provider, in-process parts', () => {
  it('maps the registry codes to exit statuses: NTE_EXISTS 8, NTE_NOT_FOUND 6, SCARD_E_INVALID_PARAMETER 1', () => {
    assert.equal(exitCodeFor(new CryptError('NTE_EXISTS', 'x')), ExitCode.EXISTS);
    assert.equal(ExitCode.EXISTS, 8);
    assert.equal(exitCodeFor(new CryptError('NTE_NOT_FOUND', 'x')), ExitCode.NOT_FOUND);
    assert.equal(exitCodeFor(new CryptError('SCARD_E_INVALID_PARAMETER', 'x')), ExitCode.FAILURE);
  });

  const reg = (name: string, extra: Partial<Registration>): Registration => ({
    name, kind: 'minidriver', module: '/m.so', match: {}, priority: 0, installedAt: '2026-01-01T00:00:00.000Z', installSequence: 1, ...extra,
  });

  it('rankForListing orders by priority, then time, then sequence, and names only same-claim losers', () => {
    const ranked = rankForListing([
      reg('a', { match: { atr: '3b00' }, installSequence: 1 }),
      reg('b', { match: { atr: '3b00' }, installSequence: 2 }),
      reg('c', { match: { atr: '3b01' }, installSequence: 3 }),
      reg('d', { match: {}, module: '/other.so', installSequence: 4, priority: 2 }),
      reg('e', { match: {}, module: '/other.so', installSequence: 5 }),
    ]);
    assert.deepEqual(ranked.map((r) => r.name), ['d', 'e', 'c', 'b', 'a']);
    assert.deepEqual(ranked.map((r) => r.winsOver), [['e'], undefined, undefined, ['a'], undefined]);
  });

  it('describeMatch summarises criteria', () => {
    assert.equal(describeMatch(reg('x', { match: { atr: '3b00', atrMask: 'ff00', label: 'L*' } })), 'atr=3b00/ff00 label=L*');
    assert.equal(describeMatch(reg('x', {})), '(every token of its module)');
  });
});
