/**
 * Minidriver cases: the card file system as the Base CSP reads it (minidriver.md §5) — cardid,
 * cardcf, cardapps, mscp/cmapfile and the certificate files — through CardReadFile, CardEnumFiles and
 * CardGetFileInfo, and the not-found rules (missing file → SCARD_E_FILE_NOT_FOUND, missing directory
 * → SCARD_E_DIR_NOT_FOUND). Nothing here writes.
 */
import { X509Certificate } from 'node:crypto';
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CONTAINER_MAP_VALID_CONTAINER, szBASE_CSP_DIR, szCACHE_FILE, szCARD_APPS,
  szCARD_IDENTIFIER_FILE, szCONTAINER_MAP_FILE,
} from '../../minidriver/constants.js';
import { certificateFileName, decodeCardCf, decodeCertificateFile, decodeCmapFile } from '../../minidriver/codecs/index.js';
import type { ConformanceCase } from '../case.js';
import { check, checkEqual, expectCode, expectCodeIn } from './expect.js';
import { containerIndex, slotPublicKey, unusedIndex, withCardModule } from './minidriver-support.js';

export const minidriverFileCases: ConformanceCase[] = [
  {
    id: 'files/mandatory',
    title: 'cardid (16 bytes), cardcf (a CARD_CACHE_FILE_FORMAT), cardapps (lists "mscp") and mscp/cmapfile (86-byte records) are readable without the PIN',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        checkEqual((await md.CardReadFile(null, szCARD_IDENTIFIER_FILE, 0)).length, 16, 'cardid length');
        const cf = decodeCardCf(await md.CardReadFile(null, szCACHE_FILE, 0));
        ctx.note(`cardcf: pins ${cf.bPinsFreshness}, containers ${cf.wContainersFreshness}, files ${cf.wFilesFreshness}`);
        const apps = await md.CardReadFile(null, szCARD_APPS, 0);
        check(apps.length % 8 === 0 && apps.length > 0, `cardapps is a list of 8-byte names (${apps.length} bytes)`);
        const names = Array.from({ length: apps.length / 8 }, (_, i) => apps.subarray(i * 8, i * 8 + 8).toString('latin1').replace(/\0+$/, ''));
        check(names.includes(szBASE_CSP_DIR), `cardapps lists "mscp" (it lists ${names.join(', ')})`);
        const records = decodeCmapFile(await md.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE, 0));
        const valid = records.filter((r) => r && r.bFlags & CONTAINER_MAP_VALID_CONTAINER);
        check(valid.length >= ctx.capabilities.existingContainers.length, `cmapfile has at least the ${ctx.capabilities.existingContainers.length} containers the probe found (has ${valid.length})`);
        for (const c of ctx.capabilities.existingContainers) check(valid.some((r) => r!.wszGuid === c.name), `cmapfile lists "${c.name}"`);
        check(valid.filter((r) => r!.bFlags & 2).length <= 1, 'at most one container is marked default');
      });
    },
  },
  {
    id: 'files/enumerate',
    title: 'CardEnumFiles lists cardid, cardcf, cardapps and mscp at the root and cmapfile in mscp; dwFlags other than 0 is SCARD_E_INVALID_PARAMETER',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        const root = (await md.CardEnumFiles(null, 0)).map((n) => n.toLowerCase());
        for (const name of [szCARD_IDENTIFIER_FILE, szCACHE_FILE, szCARD_APPS, szBASE_CSP_DIR]) check(root.includes(name), `the root lists "${name}" (it lists ${root.join(', ')})`);
        const mscp = (await md.CardEnumFiles(szBASE_CSP_DIR, 0)).map((n) => n.toLowerCase());
        check(mscp.includes(szCONTAINER_MAP_FILE), `mscp lists "cmapfile" (it lists ${mscp.join(', ')})`);
        await expectCode(() => md.CardEnumFiles(null, 0x1), 'SCARD_E_INVALID_PARAMETER', 'CardEnumFiles with dwFlags 1');
      });
    },
  },
  {
    id: 'files/file-info',
    title: 'CardGetFileInfo: version 1, cbFileSize equals what CardReadFile returns, a valid access condition; cardid is not user-writable',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        for (const [dir, name] of [[null, szCARD_IDENTIFIER_FILE], [null, szCACHE_FILE], [null, szCARD_APPS], [szBASE_CSP_DIR, szCONTAINER_MAP_FILE]] as const) {
          const info = await md.CardGetFileInfo(dir, name);
          checkEqual(info.dwVersion, 1, `CARD_FILE_INFO.dwVersion of ${dir ? `${dir}/` : ''}${name}`);
          checkEqual(info.cbFileSize, (await md.CardReadFile(dir, name, 0)).length, `cbFileSize of ${dir ? `${dir}/` : ''}${name}`);
          check(info.AccessCondition >= 1 && info.AccessCondition <= 6, `access condition ${info.AccessCondition} of ${name} is 1..6`);
        }
      });
    },
  },
  {
    id: 'files/not-found',
    title: 'A missing file is SCARD_E_FILE_NOT_FOUND (read, info) and a missing directory SCARD_E_DIR_NOT_FOUND (read, enumerate)',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        await expectCode(() => md.CardReadFile(null, 'nofile', 0), 'SCARD_E_FILE_NOT_FOUND', 'CardReadFile of the missing root file "nofile"');
        await expectCode(() => md.CardReadFile(szBASE_CSP_DIR, 'nofile', 0), 'SCARD_E_FILE_NOT_FOUND', 'CardReadFile of the missing file "mscp/nofile"');
        await expectCode(() => md.CardGetFileInfo(null, 'nofile'), 'SCARD_E_FILE_NOT_FOUND', 'CardGetFileInfo of a missing file');
        await expectCode(() => md.CardReadFile('nodir', 'cmapfile', 0), 'SCARD_E_DIR_NOT_FOUND', 'CardReadFile in the missing directory "nodir"');
        await expectCode(() => md.CardEnumFiles('nodir', 0), 'SCARD_E_DIR_NOT_FOUND', 'CardEnumFiles of a missing directory');
        await expectCode(() => md.CardReadFile(null, szCARD_IDENTIFIER_FILE, 0x1), 'SCARD_E_INVALID_PARAMETER', 'CardReadFile with dwFlags 1');
      });
    },
  },
  {
    id: 'files/certificates',
    title: 'Each existing certificate is readable as mscp/kscNN or kxcNN, is DER (or the compressed form), and certifies the key CardGetContainerInfo reports',
    requires: { applicable: (c) => (c.existingContainers.some((x) => x.hasCertificate) ? undefined : 'no existing container has a certificate') },
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        const listed = (await md.CardEnumFiles(szBASE_CSP_DIR, 0)).map((n) => n.toLowerCase());
        let checked = 0;
        for (const container of ctx.capabilities.existingContainers.filter((c) => c.hasCertificate)) {
          const index = await containerIndex(md, container.name);
          for (const keySpec of [AT_KEYEXCHANGE, AT_SIGNATURE]) {
            const name = certificateFileName(keySpec, index);
            if (!listed.includes(name.toLowerCase())) continue;
            const certificate = new X509Certificate(decodeCertificateFile(await md.CardReadFile(szBASE_CSP_DIR, name, 0)));
            const info = await md.CardGetContainerInfo(index, 0);
            const slot = keySpec === AT_KEYEXCHANGE ? info.pbKeyExPublicKey : info.pbSigPublicKey;
            check(slot, `container ${index} has a key in the slot of ${name}`);
            check(certificate.publicKey.equals(await slotPublicKey(md, index, keySpec)), `${name}'s certificate holds the public key of container ${index}`);
            checked++;
          }
        }
        check(checked > 0, 'at least one certificate file was found for the containers the probe says have certificates');
        ctx.note(`${checked} certificate file(s) checked`);
      });
    },
  },
  {
    id: 'files/read-only-refuses-writes',
    title: 'A read-only card refuses CardWriteFile, CardCreateFile, CardDeleteFile and CardCreateContainer with SCARD_E_UNSUPPORTED_FEATURE (or SCARD_E_READ_ONLY_CARD)',
    requires: { applicable: (c) => (c.readOnly ? undefined : 'the card is writable (the write cases run with --allow-destructive)') },
    async run(ctx) {
      const codes = ['SCARD_E_UNSUPPORTED_FEATURE', 'SCARD_E_READ_ONLY_CARD'];
      await withCardModule(ctx, async (md) => {
        const cf = await md.CardReadFile(null, szCACHE_FILE, 0);
        await expectCodeIn(() => md.CardWriteFile(null, szCACHE_FILE, 0, cf), codes, 'CardWriteFile of cardcf on a read-only card');
        await expectCodeIn(() => md.CardCreateFile(szBASE_CSP_DIR, 'p11kconf', 0, 1), codes, 'CardCreateFile on a read-only card');
        // Names and indexes nothing uses: should the card not be read-only after all, nothing is lost.
        await expectCodeIn(() => md.CardDeleteFile(szBASE_CSP_DIR, 'p11kconf', 0), codes, 'CardDeleteFile on a read-only card');
        const index = await unusedIndex(md);
        await expectCodeIn(() => md.CardCreateContainer(index, 1, AT_KEYEXCHANGE, 2048, null), codes, 'CardCreateContainer on a read-only card');
        check((await md.CardReadFile(null, szCACHE_FILE, 0)).equals(cf), 'cardcf is unchanged');
      });
    },
  },
];
