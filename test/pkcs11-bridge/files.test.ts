import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { CardModule } from '../../minidriver/card-module.js';
import { moduleReferences, type Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import {
  assertNoSessionCheckedOut, CKO, expectCryptError, grapheneObjects, makeToken, newDriver, openContext, pin, SOFTHSM2_MODULE, openContextPerSuite,
} from './helpers.js';

const token = makeToken('br-files');

// Access conditions (minidriver.md §4).
const EveryoneReadUserWriteAc = 1;
const UserWriteExecuteAc = 2;
const EveryoneReadAdminWriteAc = 3;
const UserReadWriteAc = 5;
const AdminReadWriteAc = 6;
const UserCreateDeleteDirAc = 1;
const AdminCreateDeleteDirAc = 2;

describe('pkcs11-bridge: card file system on the token', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;

  const asUser = () => ctx.CardAuthenticatePin('user', pin(token.pin));
  const asAdmin = () => ctx.CardAuthenticateEx(2, 0, pin(token.soPin));
  const asNobody = async () => {
    await ctx.CardDeauthenticateEx(0x6); // ROLE_USER | ROLE_ADMIN
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 0);
  };

  openContextPerSuite(token.label, (d, c) => { driver = d; ctx = c; });

  describe('a fresh token', () => {
    it('has cardid (16 bytes), cardcf (6 zero bytes), cardapps ("mscp" padded to 8) and an empty mscp/cmapfile', async () => {
      const cardid = await ctx.CardReadFile(null, 'cardid');
      assert.equal(cardid.length, 16);
      assert.ok(cardid.some((x) => x !== 0), 'cardid is not all zeros');
      assert.deepEqual(await ctx.CardReadFile(null, 'cardcf'), Buffer.alloc(6));
      assert.deepEqual(await ctx.CardReadFile(null, 'cardapps'), Buffer.from('6d73637000000000', 'hex'));
      assert.deepEqual(await ctx.CardReadFile('mscp', 'cmapfile'), Buffer.alloc(0));
    });

    it('keeps the same cardid across contexts and drivers (it is stored on the token)', async () => {
      const first = await ctx.CardReadFile(null, 'cardid');
      const other = newDriver();
      try {
        const ctx2 = await openContext(other, token.label);
        assert.deepEqual(await ctx2.CardReadFile(null, 'cardid'), first);
      } finally {
        await other.close();
      }
    });

    it('enumerates cardid, cardcf, cardapps and the mscp directory at the root, cmapfile in mscp', async () => {
      const root = await ctx.CardEnumFiles(null);
      for (const name of ['cardid', 'cardcf', 'cardapps']) assert.ok(root.includes(name), `root lists ${name}: ${root}`);
      assert.ok(root.includes('mscp'), `root lists the mscp directory: ${root}`);
      assert.ok(!root.includes('cmapfile'), 'cmapfile is not at the root');
      const mscp = await ctx.CardEnumFiles('mscp');
      assert.ok(mscp.includes('cmapfile'), `mscp lists cmapfile: ${mscp}`);
      assert.ok(!mscp.includes('cardid'));
    });

    it('CardGetFileInfo gives size and access condition of the mandatory files', async () => {
      assert.deepEqual(await ctx.CardGetFileInfo(null, 'cardid'), { dwVersion: 1, cbFileSize: 16, AccessCondition: EveryoneReadAdminWriteAc });
      assert.deepEqual(await ctx.CardGetFileInfo(null, 'cardcf'), { dwVersion: 1, cbFileSize: 6, AccessCondition: EveryoneReadUserWriteAc });
      assert.deepEqual(await ctx.CardGetFileInfo(null, 'cardapps'), { dwVersion: 1, cbFileSize: 8, AccessCondition: EveryoneReadAdminWriteAc });
      assert.deepEqual(await ctx.CardGetFileInfo('mscp', 'cmapfile'), { dwVersion: 1, cbFileSize: 0, AccessCondition: EveryoneReadUserWriteAc });
    });

    it('stores the files as public CKO_DATA objects labelled by path (read back with graphene)', async () => {
      const data = grapheneObjects(token.label).filter((o) => o.cls === CKO.DATA);
      for (const path of ['cardid', 'cardcf', 'cardapps', 'mscp/cmapfile']) {
        const objects = data.filter((o) => o.label === path);
        assert.equal(objects.length, 1, `exactly one object for ${path}`);
        assert.equal(objects[0]!.private, false, `${path} is CKA_PRIVATE false`);
        assert.equal(objects[0]!.token, true, `${path} is a token object`);
      }
      assert.deepEqual(data.find((o) => o.label === 'cardid')!.value, await ctx.CardReadFile(null, 'cardid'));
      assert.deepEqual(data.find((o) => o.label === 'cardcf')!.value, Buffer.alloc(6));
    });

    it('matches names case-insensitively', async () => {
      assert.deepEqual(await ctx.CardReadFile(null, 'CARDID'), await ctx.CardReadFile(null, 'cardid'));
      assert.deepEqual(await ctx.CardReadFile('MSCP', 'CmapFile'), await ctx.CardReadFile('mscp', 'cmapfile'));
    });
  });

  describe('errors', () => {
    it('a missing file is SCARD_E_FILE_NOT_FOUND, a missing directory SCARD_E_DIR_NOT_FOUND', async () => {
      await expectCryptError(() => ctx.CardReadFile(null, 'nothere'), 'SCARD_E_FILE_NOT_FOUND');
      await expectCryptError(() => ctx.CardReadFile('mscp', 'nothere'), 'SCARD_E_FILE_NOT_FOUND');
      await expectCryptError(() => ctx.CardGetFileInfo('mscp', 'nothere'), 'SCARD_E_FILE_NOT_FOUND');
      await expectCryptError(() => ctx.CardReadFile('nodir', 'cmapfile'), 'SCARD_E_DIR_NOT_FOUND');
      await expectCryptError(() => ctx.CardEnumFiles('nodir'), 'SCARD_E_DIR_NOT_FOUND');
      await asUser();
      await expectCryptError(() => ctx.CardDeleteFile('mscp', 'nothere'), 'SCARD_E_FILE_NOT_FOUND');
      await expectCryptError(() => ctx.CardWriteFile('mscp', 'nothere', 0, Buffer.from('x')), 'SCARD_E_FILE_NOT_FOUND');
      await expectCryptError(() => ctx.CardCreateFile('nodir', 'file', 0, EveryoneReadUserWriteAc), 'SCARD_E_DIR_NOT_FOUND');
      await expectCryptError(() => ctx.CardDeleteDirectory('nodir'), 'SCARD_E_DIR_NOT_FOUND');
    });

    it('names longer than 8 characters are SCARD_E_INVALID_PARAMETER', async () => {
      await asUser();
      await expectCryptError(() => ctx.CardReadFile(null, 'ninechars'), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardCreateFile('mscp', 'ninechars', 0, EveryoneReadUserWriteAc), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardWriteFile('mscp', 'ninechars', 0, Buffer.alloc(1)), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardReadFile('ninechars', 'cardid'), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardCreateFile('mscp', '', 0, EveryoneReadUserWriteAc), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardCreateFile('mscp', 'a/b', 0, EveryoneReadUserWriteAc), 'SCARD_E_INVALID_PARAMETER');
      assert.ok(!(await ctx.CardEnumFiles('mscp')).some((n) => n.startsWith('nine')), 'nothing was created');
    });

    it('bad access conditions and flags are SCARD_E_INVALID_PARAMETER', async () => {
      await asUser();
      await expectCryptError(() => ctx.CardCreateFile('mscp', 'badac', 0, 0), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardCreateFile('mscp', 'badac', 0, 7), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardReadFile(null, 'cardid', 1), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardEnumFiles(null, 1), 'SCARD_E_INVALID_PARAMETER');
      await expectCryptError(() => ctx.CardCreateDirectory('appx', 0), 'SCARD_E_INVALID_PARAMETER');
      assert.ok(!(await ctx.CardEnumFiles('mscp')).includes('badac'));
    });

    it('creating a file or directory that exists is ERROR_FILE_EXISTS', async () => {
      await asUser();
      await expectCryptError(() => ctx.CardCreateFile('mscp', 'cmapfile', 0, EveryoneReadUserWriteAc), 'ERROR_FILE_EXISTS');
      await ctx.CardCreateFile('mscp', 'twice', 0, EveryoneReadUserWriteAc);
      await expectCryptError(() => ctx.CardCreateFile('mscp', 'TWICE', 0, EveryoneReadUserWriteAc), 'ERROR_FILE_EXISTS');
      await ctx.CardDeleteFile('mscp', 'twice');
      await asAdmin();
      await expectCryptError(() => ctx.CardCreateFile(null, 'cardid', 0, EveryoneReadAdminWriteAc), 'ERROR_FILE_EXISTS');
      await expectCryptError(() => ctx.CardCreateDirectory('mscp', UserCreateDeleteDirAc), 'ERROR_FILE_EXISTS');
      await asNobody();
    });

    it('writing or creating without the PIN is SCARD_W_SECURITY_VIOLATION and changes nothing', async () => {
      await asNobody();
      const before = await ctx.CardReadFile(null, 'cardcf');
      await expectCryptError(() => ctx.CardWriteFile(null, 'cardcf', 0, Buffer.from('010203040506', 'hex')), 'SCARD_W_SECURITY_VIOLATION');
      await expectCryptError(() => ctx.CardWriteFile('mscp', 'cmapfile', 0, Buffer.alloc(86)), 'SCARD_W_SECURITY_VIOLATION');
      await expectCryptError(() => ctx.CardCreateFile('mscp', 'anon', 0, EveryoneReadUserWriteAc), 'SCARD_W_SECURITY_VIOLATION');
      await expectCryptError(() => ctx.CardDeleteFile('mscp', 'cmapfile'), 'SCARD_W_SECURITY_VIOLATION');
      await expectCryptError(() => ctx.CardCreateDirectory('anondir', UserCreateDeleteDirAc), 'SCARD_W_SECURITY_VIOLATION');
      await expectCryptError(() => ctx.CardDeleteDirectory('mscp'), 'SCARD_W_SECURITY_VIOLATION');
      assert.deepEqual(await ctx.CardReadFile(null, 'cardcf'), before);
      assert.deepEqual(await ctx.CardReadFile('mscp', 'cmapfile'), Buffer.alloc(0));
      assert.ok(!(await ctx.CardEnumFiles('mscp')).includes('anon'));
      assertNoSessionCheckedOut(ctx);
    });

    it('the user may not write admin files (cardid) nor create files at the root', async () => {
      await asUser();
      const cardid = await ctx.CardReadFile(null, 'cardid');
      await expectCryptError(() => ctx.CardWriteFile(null, 'cardid', 0, randomBytes(16)), 'SCARD_W_SECURITY_VIOLATION');
      await expectCryptError(() => ctx.CardWriteFile(null, 'cardapps', 0, Buffer.alloc(8)), 'SCARD_W_SECURITY_VIOLATION');
      await expectCryptError(() => ctx.CardCreateFile(null, 'rootf', 0, EveryoneReadUserWriteAc), 'SCARD_W_SECURITY_VIOLATION');
      await expectCryptError(() => ctx.CardCreateDirectory('userdir', UserCreateDeleteDirAc), 'SCARD_W_SECURITY_VIOLATION');
      assert.deepEqual(await ctx.CardReadFile(null, 'cardid'), cardid);
    });

    it('deleting a directory that holds files is ERROR_DIR_NOT_EMPTY', async () => {
      await asUser();
      await expectCryptError(() => ctx.CardDeleteDirectory('mscp'), 'ERROR_DIR_NOT_EMPTY');
      assert.ok((await ctx.CardEnumFiles(null)).includes('mscp'));
      assert.deepEqual(await ctx.CardReadFile('mscp', 'cmapfile'), Buffer.alloc(0));
    });
  });

  describe('access conditions (create, write, read, info, delete in mscp)', () => {
    // userWrite, userRead, anonymousRead per minidriver.md §4; the administrator may do everything.
    const table = [
      { ac: EveryoneReadUserWriteAc, name: 'EveryoneReadUserWriteAc', userWrite: true, userRead: true, anonRead: true },
      { ac: UserWriteExecuteAc, name: 'UserWriteExecuteAc', userWrite: true, userRead: false, anonRead: false },
      { ac: EveryoneReadAdminWriteAc, name: 'EveryoneReadAdminWriteAc', userWrite: false, userRead: true, anonRead: true },
      { ac: UserReadWriteAc, name: 'UserReadWriteAc', userWrite: true, userRead: true, anonRead: false },
      { ac: AdminReadWriteAc, name: 'AdminReadWriteAc', userWrite: false, userRead: false, anonRead: false },
    ];
    for (const row of table) {
      it(`${row.name} (${row.ac})`, async () => {
        const file = `ac${row.ac}`;
        const content = randomBytes(40 + row.ac);
        await asUser();
        await ctx.CardCreateFile('mscp', file, 0, row.ac);
        assert.ok((await ctx.CardEnumFiles('mscp')).includes(file));

        if (row.userWrite) await ctx.CardWriteFile('mscp', file, 0, content);
        else await expectCryptError(() => ctx.CardWriteFile('mscp', file, 0, content), 'SCARD_W_SECURITY_VIOLATION', 'user write');
        const expected = row.userWrite ? content : Buffer.alloc(0);

        if (row.userRead) {
          assert.deepEqual(await ctx.CardReadFile('mscp', file), expected);
          assert.deepEqual(await ctx.CardGetFileInfo('mscp', file), { dwVersion: 1, cbFileSize: expected.length, AccessCondition: row.ac });
        } else {
          await expectCryptError(() => ctx.CardReadFile('mscp', file), 'SCARD_W_SECURITY_VIOLATION', 'user read');
        }

        await asNobody();
        if (row.anonRead) assert.deepEqual(await ctx.CardReadFile('mscp', file), expected);
        else await expectCryptError(() => ctx.CardReadFile('mscp', file), 'SCARD_W_SECURITY_VIOLATION', 'anonymous read');
        await expectCryptError(() => ctx.CardWriteFile('mscp', file, 0, content), 'SCARD_W_SECURITY_VIOLATION', 'anonymous write');
        await expectCryptError(() => ctx.CardDeleteFile('mscp', file), 'SCARD_W_SECURITY_VIOLATION', 'anonymous delete');

        await asUser();
        if (row.userWrite) {
          await ctx.CardDeleteFile('mscp', file);
        } else {
          await expectCryptError(() => ctx.CardDeleteFile('mscp', file), 'SCARD_W_SECURITY_VIOLATION', 'user delete');
          await asAdmin();
          await ctx.CardWriteFile('mscp', file, 0, content);
          assert.deepEqual(await ctx.CardReadFile('mscp', file), content, 'the administrator reads and writes');
          await ctx.CardDeleteFile('mscp', file);
          await asNobody();
        }
        await expectCryptError(() => ctx.CardReadFile('mscp', file), 'SCARD_E_FILE_NOT_FOUND');
        assert.ok(!(await ctx.CardEnumFiles('mscp')).includes(file));
      });
    }

    it('the administrator creates, writes and deletes files at the root', async () => {
      await asAdmin();
      const content = randomBytes(12);
      await ctx.CardCreateFile(null, 'adminf', 0, AdminReadWriteAc);
      await ctx.CardWriteFile(null, 'adminf', 0, content);
      assert.deepEqual(await ctx.CardReadFile(null, 'adminf'), content);
      assert.ok((await ctx.CardEnumFiles(null)).includes('adminf'));
      await ctx.CardDeleteFile(null, 'adminf');
      assert.ok(!(await ctx.CardEnumFiles(null)).includes('adminf'));
      await asNobody();
    });
  });

  describe('directories', () => {
    it('the administrator creates a user directory; the user fills, empties and deletes it', async () => {
      await asAdmin();
      await ctx.CardCreateDirectory('app1', UserCreateDeleteDirAc);
      await asUser();
      assert.ok((await ctx.CardEnumFiles(null)).includes('app1'));
      assert.deepEqual(await ctx.CardEnumFiles('app1'), []);
      await ctx.CardCreateFile('app1', 'data', 0, EveryoneReadUserWriteAc);
      await ctx.CardWriteFile('app1', 'data', 0, Buffer.from('hello'));
      assert.deepEqual(await ctx.CardEnumFiles('app1'), ['data']);
      await expectCryptError(() => ctx.CardDeleteDirectory('app1'), 'ERROR_DIR_NOT_EMPTY');
      await ctx.CardDeleteFile('app1', 'data');
      await ctx.CardDeleteDirectory('app1');
      assert.ok(!(await ctx.CardEnumFiles(null)).includes('app1'));
      await expectCryptError(() => ctx.CardEnumFiles('app1'), 'SCARD_E_DIR_NOT_FOUND');
    });

    it('an administrator directory refuses files from the user', async () => {
      await asAdmin();
      await ctx.CardCreateDirectory('admdir', AdminCreateDeleteDirAc);
      await asUser();
      await expectCryptError(() => ctx.CardCreateFile('admdir', 'f', 0, EveryoneReadUserWriteAc), 'SCARD_W_SECURITY_VIOLATION');
      await expectCryptError(() => ctx.CardDeleteDirectory('admdir'), 'SCARD_W_SECURITY_VIOLATION');
      await asAdmin();
      await ctx.CardDeleteDirectory('admdir');
      await asNobody();
    });
  });

  describe('the file system is on the token', () => {
    it('CardGetFileInfo follows the size of each write', async () => {
      await asUser();
      await ctx.CardCreateFile('mscp', 'sizes', 0, EveryoneReadUserWriteAc);
      for (const size of [100, 0, 1, 3000]) {
        const content = randomBytes(size);
        await ctx.CardWriteFile('mscp', 'sizes', 0, content);
        assert.equal((await ctx.CardGetFileInfo('mscp', 'sizes')).cbFileSize, size);
        assert.deepEqual(await ctx.CardReadFile('mscp', 'sizes'), content);
      }
      await ctx.CardDeleteFile('mscp', 'sizes');
    });

    it('a written file is one public CKO_DATA object labelled by its path, with the content (graphene)', async () => {
      await asUser();
      const content = randomBytes(33);
      await ctx.CardCreateFile('mscp', 'seen', 0, EveryoneReadUserWriteAc);
      await ctx.CardWriteFile('mscp', 'seen', 0, content);
      const objects = grapheneObjects(token.label).filter((o) => o.cls === CKO.DATA && o.label === 'mscp/seen');
      assert.equal(objects.length, 1, 'one object, the old one replaced');
      assert.equal(objects[0]!.private, false);
      assert.deepEqual(objects[0]!.value, content);
      await ctx.CardDeleteFile('mscp', 'seen');
      assert.equal(grapheneObjects(token.label).filter((o) => o.label === 'mscp/seen').length, 0, 'deleted on the token');
    });

    it('two contexts of one driver see each other\'s writes', async () => {
      await asUser();
      const sibling = await openContext(driver, token.label);
      try {
        await ctx.CardCreateFile('mscp', 'sib', 0, EveryoneReadUserWriteAc);
        await ctx.CardWriteFile('mscp', 'sib', 0, Buffer.from('one'));
        assert.deepEqual(await sibling.CardReadFile('mscp', 'sib'), Buffer.from('one'));
        await sibling.CardWriteFile('mscp', 'sib', 0, Buffer.from('two'));
        assert.deepEqual(await ctx.CardReadFile('mscp', 'sib'), Buffer.from('two'));
        await sibling.CardDeleteFile('mscp', 'sib');
        await expectCryptError(() => ctx.CardReadFile('mscp', 'sib'), 'SCARD_E_FILE_NOT_FOUND');
      } finally {
        await sibling.CardDeleteContext();
      }
    });

    it('two drivers (sharing the module in this process) see each other\'s writes, replacements and deletions', async () => {
      await asUser();
      const references = moduleReferences(SOFTHSM2_MODULE);
      const other = newDriver();
      try {
        const ctx2 = await openContext(other, token.label);
        assert.equal(moduleReferences(SOFTHSM2_MODULE), references + 1, 'the second driver shares the one loaded module');
        await ctx2.CardAuthenticatePin('user', pin(token.pin));
        await ctx.CardCreateFile('mscp', 'shared', 0, EveryoneReadUserWriteAc);
        await ctx.CardWriteFile('mscp', 'shared', 0, Buffer.from('first'));
        assert.deepEqual(await ctx2.CardReadFile('mscp', 'shared'), Buffer.from('first'));
        await ctx.CardWriteFile('mscp', 'shared', 0, Buffer.from('second'));
        assert.deepEqual(await ctx2.CardReadFile('mscp', 'shared'), Buffer.from('second'), 'driver 2 does not serve a stale copy');
        await ctx2.CardWriteFile('mscp', 'shared', 0, Buffer.from('third'));
        assert.deepEqual(await ctx.CardReadFile('mscp', 'shared'), Buffer.from('third'));
        await ctx2.CardDeleteFile('mscp', 'shared');
        await expectCryptError(() => ctx.CardReadFile('mscp', 'shared'), 'SCARD_E_FILE_NOT_FOUND');
        await ctx.CardCreateFile('mscp', 'shared', 0, UserReadWriteAc);
        assert.deepEqual(await ctx2.CardGetFileInfo('mscp', 'shared'), { dwVersion: 1, cbFileSize: 0, AccessCondition: UserReadWriteAc });
        await ctx.CardDeleteFile('mscp', 'shared');
        // cardcf written by one driver is what the other reads: the freshness counters are shared.
        const cf = Buffer.from('010203000400', 'hex');
        await ctx2.CardWriteFile(null, 'cardcf', 0, cf);
        assert.deepEqual(await ctx.CardReadFile(null, 'cardcf'), cf);
        await ctx.CardWriteFile(null, 'cardcf', 0, Buffer.alloc(6));
        assert.deepEqual(await ctx2.CardReadFile(null, 'cardcf'), Buffer.alloc(6));
      } finally {
        await other.close();
      }
      assert.equal(moduleReferences(SOFTHSM2_MODULE), references, 'closing it released its reference');
    });

    it('leaves exactly one data object per path after many writes', async () => {
      await asUser();
      await ctx.CardCreateFile('mscp', 'many', 0, EveryoneReadUserWriteAc);
      for (let i = 0; i < 10; i++) await ctx.CardWriteFile('mscp', 'many', 0, Buffer.from([i]));
      const data = grapheneObjects(token.label).filter((o) => o.cls === CKO.DATA);
      const counts = new Map<string, number>();
      for (const o of data) counts.set(o.label, (counts.get(o.label) ?? 0) + 1);
      for (const [label, n] of counts) assert.equal(n, 1, `${label} has ${n} objects`);
      assert.deepEqual(data.find((o) => o.label === 'mscp/many')!.value, Buffer.from([9]));
      await ctx.CardDeleteFile('mscp', 'many');
      assertNoSessionCheckedOut(ctx);
    });
  });
});
