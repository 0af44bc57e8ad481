import { strict as assert } from 'node:assert';
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  importP11KitModules,
  listP11KitModules,
  P11KIT_MODULE_DIR,
  parseModuleConfig,
  RegistryStore,
  toRegistrations,
} from '../../smartcard/registry/index.js';

describe('smartcard registry: p11-kit module configuration', () => {
  let root: string;
  let pkg: string;
  let etc: string;
  let user: string;
  beforeEach(async () => {
    root = await fs.mkdtemp(join(tmpdir(), 'p11ksp-p11kit-'));
    pkg = join(root, 'share');
    etc = join(root, 'etc');
    user = join(root, 'user');
    for (const dir of [pkg, user]) await fs.mkdir(dir); // etc deliberately absent
    await fs.writeFile(join(pkg, 'opensc-pkcs11.module'), '# comment\nmodule: opensc-pkcs11.so\n');
    await fs.writeFile(join(pkg, 'softhsm2.module'), 'module: /usr/lib/softhsm/libsofthsm2.so\npriority: 2\ncritical: yes\n');
    await fs.writeFile(join(pkg, 'trust.module'), 'module: p11-kit-trust.so\npriority: 1\ntrust-policy: yes\ndisable-in: p11-kit-proxy\n');
    await fs.writeFile(join(pkg, 'hidden.module'), 'module: hidden.so\nenable-in: firefox, seahorse\n');
    await fs.writeFile(join(pkg, 'notme.module'), 'module: notme.so\ndisable-in: p11-ksp\n');
    await fs.writeFile(join(pkg, 'README'), 'module: ignored.so\n');
    // The user blanks out opensc (the manual's way to disable) and raises softhsm2's priority only.
    await fs.writeFile(join(user, 'opensc-pkcs11.module'), 'module:\n');
    await fs.writeFile(join(user, 'softhsm2.module'), 'priority: 9\r\n');
    await fs.writeFile(join(user, 'mine.module'), 'module: /opt/mine/libmine.so\n');
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('parses key: value lines, comments and blank values', () => {
    assert.deepEqual(parseModuleConfig('# c\n\nmodule: a.so\n  priority :  3 \nbad line\nx-init-reserved:\n'), {
      module: 'a.so',
      priority: '3',
      'x-init-reserved': '',
    });
  });

  it('merges user over system field by field, resolves relative paths, applies enable-in/disable-in', async () => {
    const modules = await listP11KitModules({ dirs: [pkg, etc, user], moduleDir: '/lib/pk' });
    const byName = new Map(modules.map((m) => [m.name, m]));
    assert.deepEqual([...byName.keys()], ['hidden', 'mine', 'notme', 'opensc-pkcs11', 'softhsm2', 'trust']);

    const opensc = byName.get('opensc-pkcs11')!;
    assert.equal(opensc.enabled, false);
    assert.equal(opensc.module, undefined);
    assert.equal(opensc.files.length, 2);

    const softhsm = byName.get('softhsm2')!;
    assert.equal(softhsm.module, '/usr/lib/softhsm/libsofthsm2.so'); // inherited from the system file
    assert.equal(softhsm.priority, 9); // overridden by the user file
    assert.equal(softhsm.critical, true);
    assert.equal(softhsm.enabled, true);

    assert.equal(byName.get('trust')!.module, '/lib/pk/p11-kit-trust.so');
    assert.equal(byName.get('trust')!.enabled, true); // disabled only in p11-kit-proxy
    assert.equal(byName.get('trust')!.trustPolicy, true);
    assert.equal(byName.get('hidden')!.enabled, false);
    assert.equal(byName.get('notme')!.enabled, false);
    assert.equal(byName.get('mine')!.module, '/opt/mine/libmine.so');
  });

  it('turns enabled, non-trust modules into criteria-less minidriver registrations', async () => {
    const modules = await listP11KitModules({ dirs: [pkg, user], moduleDir: '/lib/pk' });
    assert.deepEqual(toRegistrations(modules), [
      { name: 'mine', kind: 'minidriver', module: '/opt/mine/libmine.so', match: {}, priority: 0 },
      { name: 'softhsm2', kind: 'minidriver', module: '/usr/lib/softhsm/libsofthsm2.so', match: {}, priority: 9 },
    ]);
    assert.deepEqual(toRegistrations(modules, { includeTrust: true }).map((r) => r.name), ['mine', 'softhsm2', 'trust']);
  });

  it('imports in one step and skips names already registered', async () => {
    const store = new RegistryStore(join(root, 'home'));
    const first = await importP11KitModules(store, { dirs: [pkg, user] });
    assert.deepEqual(first, { added: ['mine', 'softhsm2'], skipped: [] });
    const again = await importP11KitModules(store, { dirs: [pkg, user] });
    assert.deepEqual(again, { added: [], skipped: ['mine', 'softhsm2'] });
    assert.equal((await store.get('softhsm2'))?.priority, 9);
  });

  it("reads this machine's real configuration", async function () {
    const systemDir = '/usr/share/p11-kit/modules';
    if (!existsSync(systemDir)) this.skip();
    const files = readdirSync(systemDir).filter((f) => f.endsWith('.module'));
    const modules = await listP11KitModules({ dirs: [systemDir] });
    assert.deepEqual(modules.map((m) => m.name).sort(), files.map((f) => f.slice(0, -'.module'.length)).sort());
    for (const file of files) {
      const name = file.slice(0, -'.module'.length);
      const raw = /^module:[ \t]*(\S*)/m.exec(readFileSync(join(systemDir, file), 'utf8'))?.[1];
      const listed = modules.find((m) => m.name === name)!;
      if (!raw) assert.equal(listed.module, undefined);
      else assert.equal(listed.module, raw.startsWith('/') ? raw : join(P11KIT_MODULE_DIR, raw));
    }
    // Debian's p11-kit-modules ships the trust module's configuration; assert on it when present.
    if (files.includes('p11-kit-trust.module')) {
      const trust = modules.find((m) => m.name === 'p11-kit-trust')!;
      assert.equal(trust.module, join(P11KIT_MODULE_DIR, 'p11-kit-trust.so'));
      assert.equal(trust.trustPolicy, true);
      assert.equal(trust.priority, 1);
      assert.deepEqual(trust.disableIn, ['p11-kit-proxy']);
      assert.equal(trust.enabled, true);
      // p11-kit-modules ships the library beside its configuration.
      assert.ok(existsSync(trust.module!), `${trust.module} is configured but missing`);
    }
    // The default directories (package, /etc, user) must read without error, absent ones included.
    await listP11KitModules();
  });
});
