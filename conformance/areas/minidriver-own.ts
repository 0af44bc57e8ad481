/**
 * Minidriver cases that write to the card (--allow-destructive): key generation and import in
 * containers of the suite's own, container deletion, a file of its own, the cardcf counters, the PIN
 * change round trip, and the PIN lockout (--allow-pin-lockout as well).
 *
 * Containers are made the way the Base CSP makes them (minidriver.md §5, §9): it names the container
 * in a new mscp/cmapfile record, bumps cardcf, and only then calls CardCreateContainer for that
 * index. The name comes from ctx.ownContainer, so the runner's cleanup finds what a failed case left;
 * each case also deletes its container itself and checks the deletion.
 */
import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import {
  AT_KEYEXCHANGE, CALG_RSA_KEYX, CARD_AUTHENTICATE_PIN_PIN, CARD_CACHE_CONTAINERS, CARD_CREATE_CONTAINER_KEY_GEN,
  CARD_CREATE_CONTAINER_KEY_IMPORT, CONTAINER_MAP_VALID_CONTAINER, PIN_CHANGE_FLAG_CHANGEPIN, ROLE_USER, UserCreateDeleteDirAc,
  EveryoneReadUserWriteAc, szBASE_CSP_DIR, szCACHE_FILE, szCONTAINER_MAP_FILE, wszCARD_USER_USER,
} from '../../minidriver/constants.js';
import type { CardModule } from '../../minidriver/card-module.js';
import { bumpCardCf, decodeCardCf, decodeCmapFile, encodeCardCf, encodeCmapFile, firstFreeIndex } from '../../minidriver/codecs/index.js';
import { CryptError } from '../../minidriver/errors.js';
import { NCryptDeleteKey } from '../../ksp/keys.js';
import type { CaseContext, ConformanceCase, EcCurve } from '../case.js';
import { writeBcryptEccPrivateBlob, writeCapiPrivateKeyBlob } from './blob-readers.js';
import { withProvider } from './cng.js';
import { check, checkEqual, expectCode, expectCodeIn } from './expect.js';
import { createOwnKey, needsWritableCard, nodeCurveName } from './keys.js';
import { checkEcdhAgreement, checkEcdsaSignature, checkRsaDecrypt, checkRsaSignatures, type MinidriverKey } from './minidriver-crypto.js';
import { triesLeft, wrongPin } from './minidriver-pins.js';
import { authenticateUser, ecdhKeySpec, ecdsaKeySpec, slotPublicKey, withCardModule } from './minidriver-support.js';

const RSA_SIZES = [1024, 2048, 3072, 4096];
const CURVES: EcCurve[] = ['P-256', 'P-384', 'P-521'];

async function readCardCf(md: CardModule) {
  return decodeCardCf(await md.CardReadFile(null, szCACHE_FILE, 0));
}

/** What the Base CSP does before CardCreateContainer: a cmapfile record with the name, cardcf bumped. */
async function reserveContainer(ctx: CaseContext, md: CardModule, stem: string): Promise<{ index: number; name: string }> {
  const name = ctx.ownContainer(stem);
  const records = decodeCmapFile(await md.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE, 0));
  const index = firstFreeIndex(records);
  while (records.length <= index) records.push(null);
  records[index] = { wszGuid: name, bFlags: CONTAINER_MAP_VALID_CONTAINER, wSigKeySizeBits: 0, wKeyExchangeKeySizeBits: 0 };
  await md.CardWriteFile(null, szCACHE_FILE, 0, encodeCardCf(bumpCardCf(await readCardCf(md), CARD_CACHE_CONTAINERS)));
  await md.CardWriteFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE, 0, encodeCmapFile(records));
  ctx.note(`container "${name}" at index ${index}`);
  return { index, name };
}

/** CardDeleteContainer, then the container is gone and its record zeroed in place (never compacted). */
async function deleteAndCheck(md: CardModule, index: number, name: string): Promise<void> {
  const before = decodeCmapFile(await md.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE, 0)).length;
  await md.CardWriteFile(null, szCACHE_FILE, 0, encodeCardCf(bumpCardCf(await readCardCf(md), CARD_CACHE_CONTAINERS)));
  await md.CardDeleteContainer(index, 0);
  await expectCode(() => md.CardGetContainerInfo(index, 0), 'SCARD_E_NO_KEY_CONTAINER', `CardGetContainerInfo of the deleted container ${index}`);
  const after = decodeCmapFile(await md.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE, 0));
  check(after.length >= Math.min(before, index + 1), 'the cmapfile is not compacted by a deletion');
  check(!after.some((r) => r?.wszGuid === name && r.bFlags & CONTAINER_MAP_VALID_CONTAINER), `"${name}" is no longer a valid record`);
}

/** Makes a key in a container of the case's own, runs the checks, deletes the container. */
async function withOwnKey(ctx: CaseContext, stem: string, create: (md: CardModule, index: number) => Promise<number>, use: (md: CardModule, key: MinidriverKey) => Promise<void>): Promise<void> {
  await withCardModule(ctx, async (md) => {
    await authenticateUser(ctx, md);
    const { index, name } = await reserveContainer(ctx, md, stem);
    const keySpec = await create(md, index);
    const key: MinidriverKey = { index, keySpec, publicKey: await slotPublicKey(md, index, keySpec) };
    await use(md, key);
    await deleteAndCheck(md, index, name);
  });
}

function generateRsa(ctx: CaseContext, bits: number) {
  return async (md: CardModule, index: number): Promise<number> => {
    ctx.progress(`generating RSA-${bits} on the card (CardCreateContainer)`);
    const started = Date.now();
    await md.CardCreateContainer(index, CARD_CREATE_CONTAINER_KEY_GEN, AT_KEYEXCHANGE, bits, null);
    ctx.note(`RSA-${bits} generated in ${Date.now() - started} ms`);
    return AT_KEYEXCHANGE;
  };
}

const keyGenerationCases: ConformanceCase[] = [
  ...RSA_SIZES.map((bits): ConformanceCase => ({
    id: `keygen/rsa-${bits}`,
    title: `CardCreateContainer(KEY_GEN, AT_KEYEXCHANGE, ${bits}) in an own container: the key signs and decrypts as node:crypto checks; CardDeleteContainer removes it`,
    requires: {
      destructive: true, slow: true,
      applicable: needsWritableCard((c) => (c.rsaKeySizes.includes(bits) ? undefined : `the token does not generate RSA-${bits} keys`)),
    },
    async run(ctx) {
      await withOwnKey(ctx, `md-rsa${bits}`, generateRsa(ctx, bits), async (md, key) => {
        checkEqual(key.publicKey.asymmetricKeyDetails?.modulusLength, bits, 'modulus size of the generated key');
        await checkRsaSignatures(ctx, md, key);
        await checkRsaDecrypt(ctx, md, key);
      });
    },
  })),
  ...CURVES.flatMap((curve): ConformanceCase[] => [
    {
      id: `keygen/ecdsa-${curve.toLowerCase()}`,
      title: `CardCreateContainerEx(KEY_GEN, AT_ECDSA_${curve.replace('-', '')}, ROLE_USER) in an own container: r||s signatures verify with node:crypto`,
      requires: { destructive: true, slow: true, applicable: needsWritableCard((c) => (c.ecCurves.includes(curve) ? undefined : `the token does not support ${curve}`)) },
      async run(ctx) {
        await withOwnKey(ctx, `md-ecdsa${curve.slice(2)}`, async (md, index) => {
          ctx.progress(`generating ECDSA ${curve} on the card`);
          await md.CardCreateContainerEx(index, CARD_CREATE_CONTAINER_KEY_GEN, ecdsaKeySpec(curve), 0, null, ROLE_USER);
          return ecdsaKeySpec(curve);
        }, (md, key) => checkEcdsaSignature(md, key, curve));
      },
    },
    {
      id: `keygen/ecdh-${curve.toLowerCase()}`,
      title: `CardCreateContainer(KEY_GEN, AT_ECDHE_${curve.replace('-', '')}) in an own container: agreement and KDFs match node:crypto`,
      requires: {
        destructive: true, slow: true,
        applicable: needsWritableCard((c) => (c.ecCurves.includes(curve) ? (c.mechanisms.has('CKM_ECDH1_DERIVE') ? undefined : 'the token lists no CKM_ECDH1_DERIVE') : `the token does not support ${curve}`)),
      },
      async run(ctx) {
        await withOwnKey(ctx, `md-ecdh${curve.slice(2)}`, async (md, index) => {
          ctx.progress(`generating ECDH ${curve} on the card`);
          await md.CardCreateContainer(index, CARD_CREATE_CONTAINER_KEY_GEN, ecdhKeySpec(curve), 0, null);
          return ecdhKeySpec(curve);
        }, (md, key) => checkEcdhAgreement(md, key, curve));
      },
    },
  ]),
  {
    id: 'keygen/bad-arguments',
    title: 'CardCreateContainer refuses an unknown key spec, an unknown flag and an RSA size outside CARD_KEY_SIZES with SCARD_E_INVALID_PARAMETER, writing nothing',
    requires: { destructive: true, applicable: needsWritableCard() },
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        await authenticateUser(ctx, md);
        const { index, name } = await reserveContainer(ctx, md, 'md-badargs');
        const sizes = await md.CardQueryKeySizes(AT_KEYEXCHANGE, 0);
        await expectCode(() => md.CardCreateContainer(index, CARD_CREATE_CONTAINER_KEY_GEN, 99, 2048, null), 'SCARD_E_INVALID_PARAMETER', 'key spec 99');
        await expectCode(() => md.CardCreateContainer(index, 0x10, AT_KEYEXCHANGE, sizes.dwDefaultBitlen, null), 'SCARD_E_INVALID_PARAMETER', 'dwFlags 0x10');
        await expectCode(() => md.CardCreateContainer(index, CARD_CREATE_CONTAINER_KEY_GEN, AT_KEYEXCHANGE, sizes.dwMaximumBitlen + 8, null), 'SCARD_E_INVALID_PARAMETER', `RSA ${sizes.dwMaximumBitlen + 8} bits`);
        await expectCode(() => md.CardCreateContainer(index, CARD_CREATE_CONTAINER_KEY_IMPORT, AT_KEYEXCHANGE, 0, null), 'SCARD_E_INVALID_PARAMETER', 'KEY_IMPORT without pbKeyData');
        const info = await md.CardGetContainerInfo(index, 0);
        check(info.pbKeyExPublicKey === null && info.pbSigPublicKey === null, 'the refused calls left the container without keys');
        await md.CardDeleteContainer(index, 0);
        ctx.note(`"${name}" removed`);
      });
    },
  },
];

const importCases: ConformanceCase[] = [
  {
    id: 'import/rsa',
    title: 'CardCreateContainer(KEY_IMPORT) of a node:crypto RSA key as a hand-written PRIVATEKEYBLOB: CardGetContainerInfo gives back its public key, and it signs and decrypts',
    requires: { destructive: true, applicable: needsWritableCard((c) => (c.keyImport ? undefined : 'the token does not import keys') ?? (c.rsaKeySizes.length ? undefined : 'the token holds no RSA keys')) },
    async run(ctx) {
      const bits = ctx.capabilities.rsaKeySizes.includes(2048) ? 2048 : ctx.capabilities.rsaKeySizes[0]!;
      const pair = generateKeyPairSync('rsa', { modulusLength: bits });
      await withOwnKey(ctx, 'md-imprsa', async (md, index) => {
        await md.CardCreateContainer(index, CARD_CREATE_CONTAINER_KEY_IMPORT, AT_KEYEXCHANGE, bits, writeCapiPrivateKeyBlob(pair.privateKey, CALG_RSA_KEYX));
        return AT_KEYEXCHANGE;
      }, async (md, key) => {
        check(key.publicKey.equals(pair.publicKey), 'the container\'s public key is the imported key\'s');
        await checkRsaSignatures(ctx, md, key);
        await checkRsaDecrypt(ctx, md, key);
      });
    },
  },
  ...CURVES.map((curve): ConformanceCase => ({
    id: `import/ecdsa-${curve.toLowerCase()}`,
    title: `CardCreateContainer(KEY_IMPORT) of a node:crypto ECDSA ${curve} key as a hand-written ECC private blob: same public key, signatures verify`,
    requires: { destructive: true, applicable: needsWritableCard((c) => (c.keyImport ? undefined : 'the token does not import keys') ?? (c.ecCurves.includes(curve) ? undefined : `the token does not support ${curve}`)) },
    async run(ctx) {
      const pair = generateKeyPairSync('ec', { namedCurve: nodeCurveName(curve) });
      await withOwnKey(ctx, `md-impec${curve.slice(2)}`, async (md, index) => {
        await md.CardCreateContainer(index, CARD_CREATE_CONTAINER_KEY_IMPORT, ecdsaKeySpec(curve), 0, writeBcryptEccPrivateBlob(pair.privateKey, 'ECDSA'));
        return ecdsaKeySpec(curve);
      }, async (md, key) => {
        check(key.publicKey.equals(pair.publicKey), 'the container\'s public key is the imported key\'s');
        await checkEcdsaSignature(md, key, curve);
      });
    },
  })),
];

/** A file name of the run's own, 8 characters at most (the card file system's limit). */
function ownFileName(prefix: string): string {
  return `${prefix}${randomBytes(2).toString('hex')}`.slice(0, 8);
}

const fileCases: ConformanceCase[] = [
  {
    id: 'files/own-file',
    title: 'CardCreateFile / WriteFile / ReadFile / GetFileInfo / DeleteFile of an own file in an own directory (or in mscp when directories need the administrator); ERROR_FILE_EXISTS on re-create',
    requires: { destructive: true, applicable: needsWritableCard() },
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        await authenticateUser(ctx, md);
        let dir = ownFileName('p11d');
        let ownDir = true;
        try {
          await md.CardCreateDirectory(dir, UserCreateDeleteDirAc);
        } catch (err) {
          if (!CryptError.is(err, 'SCARD_W_SECURITY_VIOLATION') && !CryptError.is(err, 'SCARD_E_UNSUPPORTED_FEATURE')) throw err;
          ctx.note(`CardCreateDirectory as the user: ${err.codeName} (directories need the administrator here); the file goes to mscp`);
          dir = szBASE_CSP_DIR;
          ownDir = false;
        }
        const name = ownFileName('p11f');
        const data = randomBytes(300);
        try {
          await md.CardCreateFile(dir, name, 0, EveryoneReadUserWriteAc);
          await expectCode(() => md.CardCreateFile(dir, name, 0, EveryoneReadUserWriteAc), 'ERROR_FILE_EXISTS', 'CardCreateFile of a file that exists');
          await md.CardWriteFile(dir, name, 0, data);
          check((await md.CardReadFile(dir, name, 0)).equals(data), 'CardReadFile gives back what CardWriteFile wrote');
          const info = await md.CardGetFileInfo(dir, name);
          checkEqual(info.cbFileSize, data.length, 'cbFileSize after the write');
          checkEqual(info.AccessCondition, EveryoneReadUserWriteAc, 'the access condition given to CardCreateFile');
          check((await md.CardEnumFiles(dir, 0)).map((n) => n.toLowerCase()).includes(name), `CardEnumFiles("${dir}") lists the file`);
          await md.CardWriteFile(dir, name, 0, data.subarray(0, 10));
          checkEqual((await md.CardReadFile(dir, name, 0)).length, 10, 'a write replaces the whole file');
        } finally {
          await md.CardDeleteFile(dir, name, 0).catch(() => undefined);
        }
        await expectCode(() => md.CardReadFile(dir, name, 0), 'SCARD_E_FILE_NOT_FOUND', 'CardReadFile of the deleted file');
        await expectCode(() => md.CardDeleteFile(dir, name, 0), 'SCARD_E_FILE_NOT_FOUND', 'CardDeleteFile of the deleted file');
        if (ownDir) {
          await md.CardDeleteDirectory(dir);
          await expectCode(() => md.CardEnumFiles(dir, 0), 'SCARD_E_DIR_NOT_FOUND', 'CardEnumFiles of the deleted directory');
        }
      });
    },
  },
  {
    id: 'files/cardcf-freshness',
    title: 'cardcf is stored verbatim, and creating then deleting a key through CNG advances its containers counter each time',
    requires: { destructive: true, slow: true, applicable: needsWritableCard((c) => (c.ecCurves.length || c.rsaKeySizes.length ? undefined : 'the token generates no keys')) },
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        await authenticateUser(ctx, md);
        const start = await readCardCf(md);
        const bumped = bumpCardCf(start, CARD_CACHE_CONTAINERS);
        await md.CardWriteFile(null, szCACHE_FILE, 0, encodeCardCf(bumped));
        check((await md.CardReadFile(null, szCACHE_FILE, 0)).equals(encodeCardCf(bumped)), 'cardcf reads back exactly as written');
        const curve = ctx.capabilities.ecCurves[0];
        const [algId, bits] = curve ? [`ECDSA_P${curve.slice(2)}`, undefined] : ['RSA', [...ctx.capabilities.rsaKeySizes].sort((a, b) => a - b)[0]];
        await withProvider(async (prov) => {
          const { key } = await createOwnKey(ctx, prov, 'md-fresh', algId, bits ? { bits } : {});
          const afterCreate = await readCardCf(md);
          check(afterCreate.wContainersFreshness !== bumped.wContainersFreshness, `NCryptFinalizeKey advanced wContainersFreshness (${bumped.wContainersFreshness} → ${afterCreate.wContainersFreshness})`);
          await NCryptDeleteKey(key, 0);
          const afterDelete = await readCardCf(md);
          check(afterDelete.wContainersFreshness !== afterCreate.wContainersFreshness, `NCryptDeleteKey advanced wContainersFreshness (${afterCreate.wContainersFreshness} → ${afterDelete.wContainersFreshness})`);
        });
      });
    },
  },
];

/** A new PIN of the same length and kind (digits stay digits) as the current one, so the token's length rules hold. */
function otherPin(pin: Uint8Array): Uint8Array {
  const digits = pin.every((b) => b >= 0x30 && b <= 0x39);
  const next = Uint8Array.from(pin, () => (digits ? 0x30 + randomInt(10) : 0x61 + randomInt(26)));
  if (Buffer.from(next).equals(Buffer.from(pin))) next[0] = next[0] === 0x30 || next[0] === 0x61 ? next[0] + 1 : next[0] - 1;
  return next;
}

const pinCases: ConformanceCase[] = [
  {
    id: 'pin/change-round-trip',
    title: 'CardChangeAuthenticatorEx(CHANGEPIN) sets a new user PIN that then authenticates; CardChangeAuthenticator sets the original back (changes the PIN for a moment)',
    requires: { destructive: true, applicable: (c) => (c.pinChange ? undefined : 'the token does not let the user PIN be changed') },
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        await ctx.withPin(async (pin) => {
          const next = otherPin(pin);
          try {
            await md.CardChangeAuthenticatorEx(PIN_CHANGE_FLAG_CHANGEPIN, ROLE_USER, pin, ROLE_USER, next, 0);
            await md.CardDeauthenticate(wszCARD_USER_USER, 0);
            await md.CardAuthenticatePin(wszCARD_USER_USER, next);
            await expectCodeIn(() => md.CardChangeAuthenticatorEx(PIN_CHANGE_FLAG_CHANGEPIN, ROLE_USER, next, ROLE_USER, pin, 3), ['SCARD_E_INVALID_PARAMETER', 'SCARD_E_UNSUPPORTED_FEATURE'], 'a retry count the token cannot set');
            await md.CardChangeAuthenticator(wszCARD_USER_USER, next, pin, 0, CARD_AUTHENTICATE_PIN_PIN);
          } catch (err) {
            // Whatever failed, the user's PIN must be the original again.
            await md.CardChangeAuthenticatorEx(PIN_CHANGE_FLAG_CHANGEPIN, ROLE_USER, next, ROLE_USER, pin, 0).catch(() => undefined);
            throw err;
          } finally {
            next.fill(0);
          }
          await md.CardDeauthenticate(wszCARD_USER_USER, 0);
          await md.CardAuthenticatePin(wszCARD_USER_USER, pin);
        });
        ctx.note('the user PIN was changed and set back to the original');
      });
    },
  },
  {
    id: 'pin/lockout',
    title: 'Wrong PINs until the card blocks the user PIN: SCARD_W_WRONG_CHV counting down, then SCARD_W_CHV_BLOCKED, also for the right PIN (LEAVES THE USER PIN BLOCKED)',
    requires: { destructive: true, pinLockout: true, applicable: (c) => (c.pinRetryCounter ? undefined : 'the token reports no PIN retry counter, so it may never block') },
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        try {
          await authenticateUser(ctx, md); // the counter at its maximum, so the countdown is the whole of it
        } catch (err) {
          // Another lockout case of this run (CNG's) may have blocked it already: then a blocked card
          // must still refuse every PIN with SCARD_W_CHV_BLOCKED.
          if (!CryptError.is(err, 'SCARD_W_CHV_BLOCKED')) throw err;
          const wrong = await wrongPin(ctx);
          await expectCode(() => md.CardAuthenticatePin(wszCARD_USER_USER, wrong), 'SCARD_W_CHV_BLOCKED', 'a wrong PIN on a card blocked before this case').finally(() => wrong.fill(0));
          ctx.note('the user PIN was already blocked when this case began (by an earlier lockout case); it stays blocked');
          return;
        }
        const wrong = await wrongPin(ctx);
        const counts: string[] = [];
        let blocked = false;
        try {
          for (let attempt = 1; attempt <= 16 && !blocked; attempt++) {
            try {
              await md.CardAuthenticatePin(wszCARD_USER_USER, wrong);
              throw new Error('a wrong PIN was accepted');
            } catch (err) {
              if (!(err instanceof CryptError)) throw err;
              if (err.codeName === 'SCARD_W_CHV_BLOCKED') {
                blocked = true;
                checkEqual(err.attemptsRemaining ?? 0, 0, 'attemptsRemaining when blocked');
              } else if (err.codeName === 'SCARD_W_WRONG_CHV') {
                counts.push(String(triesLeft(err) ?? '?'));
              } else {
                throw err;
              }
            }
          }
        } finally {
          wrong.fill(0);
        }
        check(blocked, `the PIN blocked within 16 wrong tries (tries left reported: ${counts.join(', ')})`);
        const known = counts.filter((c) => c !== '?').map(Number);
        check(known.every((n, i) => i === 0 || n < known[i - 1]!), `the tries left count down (${counts.join(', ')})`);
        await ctx.withPin((pin) => expectCode(() => md.CardAuthenticatePin(wszCARD_USER_USER, pin), 'SCARD_W_CHV_BLOCKED', 'the right PIN on a blocked card'));
        ctx.note(`SCARD_W_CHV_BLOCKED at wrong try #${counts.length + 1}; tries left reported before: ${counts.join(', ')} (? = the card cannot tell)`);
        ctx.note('the user PIN is LEFT BLOCKED: the suite holds no administrator PIN. Unblock it with the card\'s PUK / SO PIN (e.g. pkcs11-tool --login --login-type so --init-pin) or the card vendor\'s tool.');
      });
    },
  },
];

export const minidriverOwnCases: ConformanceCase[] = [...keyGenerationCases, ...importCases, ...fileCases, ...pinCases];
