/**
 * The CNG area's destructive cases: keys the suite generates (every RSA size and curve the token
 * has), NTE_EXISTS and overwrite, deletion, certificate writes and key import, each in containers of
 * the case's own (ctx.ownContainer, deleted by the runner whatever happens) — and the PIN lockout,
 * which needs --allow-pin-lockout because the card's PIN stays blocked afterwards.
 *
 * The keys made here go through the same checks as the card's existing keys (cng-checks.ts), so a
 * destructive run exercises signing, decryption and export even on a token that held no key.
 */
import { createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import { AT_KEYEXCHANGE, AT_SIGNATURE } from '../../minidriver/constants.js';
import {
  NCRYPT_CERTIFICATE_PROPERTY, NCRYPT_OVERWRITE_KEY_FLAG, NCRYPT_PIN_PROPERTY, NCRYPT_SILENT_FLAG, NCRYPTBUFFER_PKCS_KEY_NAME,
} from '../../ksp/constants.js';
import { NCryptImportKey } from '../../ksp/blobs.js';
import { NCryptDecrypt } from '../../ksp/encryption.js';
import type { NCryptKeyHandle, NCryptProvHandle } from '../../ksp/handles.js';
import { NCryptCreatePersistedKey, NCryptDeleteKey, NCryptEnumKeys, NCryptFinalizeKey, NCryptOpenKey } from '../../ksp/keys.js';
import { NCryptFreeObject, NCryptOpenStorageProvider } from '../../ksp/provider.js';
import { NCryptGetProperty, NCryptSetProperty } from '../../ksp/properties.js';
import { NCryptSignHash, NCryptVerifySignature } from '../../ksp/signing.js';
import { CryptError } from '../../minidriver/errors.js';
import type { CaseContext, ConformanceCase, EcCurve, TargetCapabilities } from '../case.js';
import { writeBcryptRsaPrivateBlob } from './blob-readers.js';
import { forgetPin } from './card-session.js';
import { certificateFor } from './certificates.js';
import {
  checkCertificateProperty, checkEcdsaSignature, checkExports, checkKeyProperties, checkRsaOaepDecrypt, checkRsaPkcs1Decrypt,
  checkRsaPkcs1Signature, checkRsaPssSignature, type KeyFacts, PKCS1, publicKeyOf, sha256,
} from './cng-checks.js';
import { check, checkEqual, expectCode } from './expect.js';
import {
  allOf, createOwnKey, existingKeys, needsRsaGeneration, needsWritableCard, qualified, smallestRsaSize,
} from './keys.js';

const RSA_SIZES = [1024, 2048, 3072, 4096];
const CURVES: EcCurve[] = ['P-256', 'P-384', 'P-521'];

async function withProvider<T>(use: (prov: NCryptProvHandle) => Promise<T>): Promise<T> {
  const prov = await NCryptOpenStorageProvider(null);
  try {
    return await use(prov);
  } finally {
    await NCryptFreeObject(prov).catch(() => undefined);
  }
}

async function free(key: NCryptKeyHandle): Promise<void> {
  if (!key.freed) await NCryptFreeObject(key).catch(() => undefined);
}

/** Listed by NCryptEnumKeys in the target's reader, then deleted: gone from the listing and NTE_BAD_KEYSET to open. */
async function checkListedThenDelete(ctx: CaseContext, prov: NCryptProvHandle, key: NCryptKeyHandle, name: string): Promise<void> {
  const scope = `\\\\.\\${ctx.target.reader}\\`;
  check((await NCryptEnumKeys(prov, scope)).some((k) => k.pszName === name), `NCryptEnumKeys lists the new container "${name}"`);
  await NCryptDeleteKey(key);
  check(!(await NCryptEnumKeys(prov, scope)).some((k) => k.pszName === name), 'NCryptDeleteKey removed the container');
  await expectCode(() => NCryptOpenKey(prov, name, 0, NCRYPT_SILENT_FLAG), 'NTE_BAD_KEYSET', 'opening the deleted container');
  await expectCode(() => NCryptFreeObject(key), 'NTE_INVALID_HANDLE', 'NCryptDeleteKey freed the handle');
}

function rsaCreateCase(bits: number): ConformanceCase {
  const slow = bits >= 3072;
  return {
    id: `create/rsa-${bits}`,
    title: `NCryptCreatePersistedKey + Length ${bits} + NCryptFinalizeKey generates an RSA key on the card: properties, exports, PKCS#1 / PSS signatures, PKCS#1 / OAEP decryption, listing, NCryptDeleteKey`,
    requires: {
      destructive: true,
      slow,
      applicable: needsWritableCard((c) => (c.rsaKeySizes.includes(bits) ? undefined : `the token does not generate ${bits}-bit RSA keys`)),
    },
    async run(ctx) {
      await withProvider(async (prov) => {
        const { key, name } = await createOwnKey(ctx, prov, `rsa${bits}`, 'RSA', { bits, legacyKeySpec: AT_KEYEXCHANGE });
        try {
          const facts: KeyFacts = { container: name, algorithm: 'RSA', bits, legacyKeySpec: AT_KEYEXCHANGE, hasCertificate: false };
          await checkKeyProperties(ctx, key, facts);
          await checkCertificateProperty(key, facts);
          await checkExports(key, facts);
          await runIfMechanism(ctx, 'CKM_RSA_PKCS', 'PKCS#1 signature and decryption', async () => {
            await checkRsaPkcs1Signature(key, bits);
            await checkRsaPkcs1Decrypt(key, bits);
          });
          await runIfMechanism(ctx, 'CKM_RSA_PKCS_PSS', 'PSS signature', () => checkRsaPssSignature(key, bits));
          await runIfMechanism(ctx, 'CKM_RSA_PKCS_OAEP', 'OAEP decryption', () => checkRsaOaepDecrypt(key));
          await checkListedThenDelete(ctx, prov, key, name);
        } finally {
          await free(key);
        }
      });
    },
  };
}

/** Some checks of a generated key need a mechanism the token may lack: run them or say in a note why not. */
async function runIfMechanism(ctx: CaseContext, mechanism: string, what: string, action: () => Promise<void>): Promise<void> {
  if (ctx.capabilities.mechanisms.has(mechanism)) await action();
  else ctx.note(`${what} not checked: the token lists no ${mechanism}`);
}

function eccCreateCase(use: 'ECDSA' | 'ECDH', curve: EcCurve): ConformanceCase {
  const bits = Number(curve.slice(2));
  const algId = `${use}_P${bits}`;
  return {
    id: `create/${use.toLowerCase()}-${curve.toLowerCase()}`,
    title: `NCryptCreatePersistedKey(${algId}) + NCryptFinalizeKey: properties, exports, ${use === 'ECDSA' ? 'signature' : 'no signing'}, listing, NCryptDeleteKey`,
    requires: { destructive: true, applicable: needsWritableCard((c) => (c.ecCurves.includes(curve) ? undefined : `the token has no ${curve} keys`)) },
    async run(ctx) {
      await withProvider(async (prov) => {
        const { key, name } = await createOwnKey(ctx, prov, `${use.toLowerCase()}${bits}`, algId);
        try {
          const facts: KeyFacts = { container: name, algorithm: use, bits, legacyKeySpec: 0, hasCertificate: false };
          await checkKeyProperties(ctx, key, facts);
          await checkExports(key, facts);
          if (use === 'ECDSA') await runIfMechanism(ctx, 'CKM_ECDSA', 'ECDSA signature', () => checkEcdsaSignature(key, curve));
          else await expectCode(() => NCryptSignHash(key, null, sha256('x'), 0), 'NTE_NOT_SUPPORTED', 'signing with an ECDH key');
          await checkListedThenDelete(ctx, prov, key, name);
        } finally {
          await free(key);
        }
      });
    },
  };
}

/** The algorithm the cheap destructive cases generate: P-256 when the token has it (fast), else the smallest RSA. */
function cheapAlgorithm(capabilities: TargetCapabilities): { algId: string; bits?: number } | undefined {
  if (capabilities.ecCurves.includes('P-256')) return { algId: 'ECDSA_P256' };
  const bits = smallestRsaSize(capabilities);
  return bits === undefined ? undefined : { algId: 'RSA', bits };
}

const needsCheapKey = (c: TargetCapabilities): string | undefined => (cheapAlgorithm(c) ? undefined : 'the token generates neither P-256 nor RSA keys');

const otherCases: ConformanceCase[] = [
  {
    id: 'create/rsa-signature-slot',
    title: 'an RSA key created with legacy key spec AT_SIGNATURE signs, is listed as AT_SIGNATURE and refuses to decrypt (NTE_PERM)',
    requires: { destructive: true, applicable: needsWritableCard(needsRsaGeneration) },
    async run(ctx) {
      const bits = smallestRsaSize(ctx.capabilities)!;
      await withProvider(async (prov) => {
        const { key, name } = await createOwnKey(ctx, prov, 'rsasig', 'RSA', { bits, legacyKeySpec: AT_SIGNATURE });
        try {
          await checkKeyProperties(ctx, key, { container: name, algorithm: 'RSA', bits, legacyKeySpec: AT_SIGNATURE, hasCertificate: false });
          await checkRsaPkcs1Signature(key, bits);
          const listed = (await NCryptEnumKeys(prov, `\\\\.\\${ctx.target.reader}\\`)).filter((k) => k.pszName === name);
          checkEqual(listed.map((k) => k.dwLegacyKeySpec).join(','), String(AT_SIGNATURE), 'dwLegacyKeySpec of the listed key');
          await expectCode(() => NCryptDecrypt(key, Buffer.alloc(bits / 8, 1), null, PKCS1), 'NTE_PERM', 'decrypting with a signature key');
          await expectCode(() => NCryptOpenKey(prov, name, AT_KEYEXCHANGE, NCRYPT_SILENT_FLAG), 'NTE_BAD_KEYSET', 'the empty key-exchange slot');
        } finally {
          await free(key);
        }
      });
    },
  },
  {
    id: 'create/exists-and-overwrite',
    title: 'a name in use is NTE_EXISTS at NCryptCreatePersistedKey; NCRYPT_OVERWRITE_KEY_FLAG replaces the key',
    requires: { destructive: true, applicable: needsWritableCard(needsCheapKey) },
    async run(ctx) {
      const { algId, bits } = cheapAlgorithm(ctx.capabilities)!;
      const algorithm = algId === 'RSA' ? 'RSA' : 'ECDSA';
      await withProvider(async (prov) => {
        const { key: first, name } = await createOwnKey(ctx, prov, 'twice', algId, { bits });
        try {
          const firstPublic = await publicKeyOf(first, algorithm);
          await expectCode(() => NCryptCreatePersistedKey(prov, algId, qualified(ctx, name), 0), 'NTE_EXISTS', 'creating a key under a name in use');
          ctx.progress(`generating the replacement ${algId} key`);
          const second = await NCryptCreatePersistedKey(prov, algId, qualified(ctx, name), 0, NCRYPT_OVERWRITE_KEY_FLAG);
          try {
            if (bits) await NCryptSetProperty(second, 'Length', bits);
            await NCryptFinalizeKey(second);
            const reopened = await NCryptOpenKey(prov, name, 0);
            check(!(await publicKeyOf(reopened, algorithm)).equals(firstPublic), 'the container holds the new key');
            checkEqual((await NCryptEnumKeys(prov, `\\\\.\\${ctx.target.reader}\\`)).filter((k) => k.pszName === name).length, 1, 'one key of that name remains');
            await free(reopened);
          } finally {
            await free(second);
          }
        } finally {
          await free(first);
        }
      });
    },
  },
  {
    id: 'create/silent-without-pin',
    title: 'with no PIN cached, a silent NCryptFinalizeKey is NTE_SILENT_CONTEXT and writes nothing',
    requires: { destructive: true, applicable: needsWritableCard(needsCheapKey) },
    async run(ctx) {
      const { algId, bits } = cheapAlgorithm(ctx.capabilities)!;
      const name = ctx.ownContainer('silent');
      await withProvider(async (prov) => {
        await forgetPin(ctx);
        const key = await NCryptCreatePersistedKey(prov, algId, qualified(ctx, name), 0, NCRYPT_SILENT_FLAG);
        try {
          if (bits) await NCryptSetProperty(key, 'Length', bits);
          await expectCode(() => NCryptFinalizeKey(key, NCRYPT_SILENT_FLAG), 'NTE_SILENT_CONTEXT', 'a silent finalize with no PIN');
          check(!(await NCryptEnumKeys(prov, `\\\\.\\${ctx.target.reader}\\`)).some((k) => k.pszName === name), 'nothing was written');
        } finally {
          await free(key);
        }
      });
    },
  },
  {
    id: 'certificate/write',
    title: 'NCRYPT_CERTIFICATE_PROPERTY: a certificate of the key is written and read back; one of another key is NTE_BAD_PUBLIC_KEY',
    requires: { destructive: true, applicable: needsWritableCard(needsCheapKey) },
    async run(ctx) {
      const { algId, bits } = cheapAlgorithm(ctx.capabilities)!;
      const algorithm = algId === 'RSA' ? 'RSA' : 'ECDSA';
      await withProvider(async (prov) => {
        const { key, name } = await createOwnKey(ctx, prov, 'cert', algId, { bits });
        try {
          await expectCode(() => NCryptGetProperty(key, NCRYPT_CERTIFICATE_PROPERTY), 'NTE_NOT_FOUND', 'a new key has no certificate');
          const der = await certificateFor(await publicKeyOf(key, algorithm), name);
          await NCryptSetProperty(key, NCRYPT_CERTIFICATE_PROPERTY, der);
          const reopened = await NCryptOpenKey(prov, name, 0);
          try {
            check((await NCryptGetProperty(reopened, NCRYPT_CERTIFICATE_PROPERTY) as Buffer).equals(der), 'the certificate read back is the one written');
          } finally {
            await free(reopened);
          }
          const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
          await expectCode(async () => NCryptSetProperty(key, NCRYPT_CERTIFICATE_PROPERTY, await certificateFor(stranger, 'stranger')), 'NTE_BAD_PUBLIC_KEY', 'a certificate of another key');
        } finally {
          await free(key);
        }
      });
    },
  },
  {
    id: 'import/rsa-private',
    title: 'NCryptImportKey of an RSAPRIVATEBLOB into a named container: the card key signs for the imported key',
    requires: {
      destructive: true,
      applicable: allOf(needsWritableCard((c) => (c.keyImport ? undefined : 'the card does not import keys')), needsRsaGeneration),
    },
    async run(ctx) {
      const bits = ctx.capabilities.rsaKeySizes.includes(2048) ? 2048 : smallestRsaSize(ctx.capabilities)!;
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
      const name = ctx.ownContainer('import');
      await withProvider(async (prov) => {
        const key = await NCryptImportKey(prov, null, 'RSAPRIVATEBLOB', [{ type: NCRYPTBUFFER_PKCS_KEY_NAME, value: qualified(ctx, name) }], writeBcryptRsaPrivateBlob(privateKey));
        try {
          check((await publicKeyOf(key, 'RSA')).equals(publicKey), 'the imported key\'s public part is the original\'s');
          const message = randomBytes(48);
          const signature = await NCryptSignHash(key, { pszAlgId: 'SHA256' }, sha256(message), PKCS1);
          const expected = createSign('sha256').update(message).sign(privateKey);
          check(signature.equals(expected), 'the card\'s PKCS#1 signature is the one the original key makes (PKCS#1 v1.5 is deterministic)');
          await NCryptVerifySignature(key, { pszAlgId: 'SHA256' }, sha256(message), signature, PKCS1);
          await expectCode(() => NCryptImportKey(prov, null, 'RSAPRIVATEBLOB', [{ type: NCRYPTBUFFER_PKCS_KEY_NAME, value: qualified(ctx, name) }], writeBcryptRsaPrivateBlob(privateKey)), 'NTE_EXISTS', 'importing under a name in use');
        } finally {
          await free(key);
        }
      });
    },
  },
];

/** A key to present PINs to: an existing one, else (writable card) one of the case's own. */
async function keyForPin(ctx: CaseContext, prov: NCryptProvHandle): Promise<NCryptKeyHandle> {
  const existing = [...existingKeys(ctx.capabilities, { algorithm: 'RSA' }), ...CURVES.flatMap((curve) => existingKeys(ctx.capabilities, { algorithm: 'ECDSA', curve }))][0];
  if (existing) return NCryptOpenKey(prov, existing.container, existing.legacyKeySpec);
  const { algId, bits } = cheapAlgorithm(ctx.capabilities)!;
  return (await createOwnKey(ctx, prov, 'pin', algId, { bits })).key;
}

/** A PIN the card will not accept: the right one with its last character changed (same length, same alphabet). */
function wrongPinFrom(pin: Uint8Array): Buffer {
  const wrong = Buffer.from(pin);
  const last = wrong[wrong.length - 1]!;
  wrong[wrong.length - 1] = last === 0x30 ? 0x31 : 0x30;
  return wrong;
}

const lockoutCase: ConformanceCase = {
  id: 'pin/lockout',
  title: 'wrong PINs through NCRYPT_PIN_PROPERTY: SCARD_W_WRONG_CHV with the tries counting down, then SCARD_W_CHV_BLOCKED (even for the right PIN)',
  requires: {
    destructive: true,
    pinLockout: true,
    applicable: (c) => {
      if (!c.pinRetryCounter) return 'the token does not report remaining PIN tries';
      const hasKey = c.existingContainers.some((x) => x.keys.some((k) => k.algorithm !== 'ECDH'));
      return hasKey || (!c.readOnly && cheapAlgorithm(c)) ? undefined : 'no key to present a PIN to, and none can be made';
    },
  },
  async run(ctx) {
    await withProvider(async (prov) => {
      const key = await keyForPin(ctx, prov);
      try {
        await forgetPin(ctx);
        const wrong = await ctx.withPin(async (pin) => wrongPinFrom(pin));
        try {
          let previous: number | undefined;
          const counts: number[] = [];
          for (let attempt = 1; ; attempt++) {
            if (attempt > 20) throw new Error('20 wrong PINs and the card is still not blocked');
            let err: CryptError;
            try {
              await NCryptSetProperty(key, NCRYPT_PIN_PROPERTY, wrong);
              throw new Error('the card accepted a wrong PIN');
            } catch (e) {
              if (!(e instanceof CryptError)) throw e;
              err = e;
            }
            if (err.codeName === 'SCARD_W_CHV_BLOCKED') {
              check(previous === undefined || previous <= 1, `blocked after ${attempt} wrong PINs while ${String(previous)} tries were reported left`);
              ctx.note(`SCARD_W_CHV_BLOCKED at wrong presentation #${attempt}; tries left reported before: ${counts.join(', ') || 'none (the card cannot tell)'}`);
              break;
            }
            checkEqual(err.codeName, 'SCARD_W_WRONG_CHV', `wrong PIN #${attempt}`);
            // PKCS#11 has no counter, only "count low" / "final try" flags: a card may answer
            // CARD_DATA_VALUE_UNKNOWN (as OpenSC's minidriver does) until the flags say something.
            const left = err.attemptsRemaining;
            check(typeof left === 'number', `wrong PIN #${attempt} carries attemptsRemaining`);
            const known = left !== 0xffffffff;
            if (known && previous !== undefined) checkEqual(left, previous - 1, `tries left after wrong PIN #${attempt}`);
            if (known) counts.push(left);
            previous = known ? left : undefined;
          }
        } finally {
          wrong.fill(0);
        }
        await ctx.withPin((pin) => expectCode(() => NCryptSetProperty(key, NCRYPT_PIN_PROPERTY, Buffer.from(pin)), 'SCARD_W_CHV_BLOCKED', 'the right PIN on a blocked card'));
        ctx.note('THE USER PIN OF THIS CARD IS NOW BLOCKED. The suite cannot unblock it: that needs the card\'s SO PIN / PUK '
          + '(CardUnblockPin, or the token vendor\'s tool, e.g. `pkcs11-tool --init-pin --login --login-type so`).');
      } finally {
        await free(key);
      }
    });
  },
};

export const cngOwnKeyCases: ConformanceCase[] = [
  ...RSA_SIZES.map(rsaCreateCase),
  ...CURVES.flatMap((curve) => [eccCreateCase('ECDSA', curve), eccCreateCase('ECDH', curve)]),
  ...otherCases,
  lockoutCase,
];
