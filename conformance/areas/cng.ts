/**
 * The CNG area: the NCrypt* front end (ksp/) on the target, as an application ported from Windows
 * uses it. Non-destructive cases read and use the keys the card already has (keys.ts); the cases
 * that create, overwrite, delete or write certificates, and the PIN lockout, are in cng-own-keys.ts.
 */
import { randomBytes } from 'node:crypto';
import { AT_KEYEXCHANGE, AT_SIGNATURE } from '../../minidriver/constants.js';
import {
  MS_SMART_CARD_KEY_STORAGE_PROVIDER, NCRYPT_ALGORITHM_PROPERTY, NCRYPT_NAME_PROPERTY, NCRYPT_SILENT_FLAG,
} from '../../ksp/constants.js';
import { NCryptEnumKeys, NCryptOpenKey } from '../../ksp/keys.js';
import { NCryptEnumStorageProviders, NCryptFreeObject, NCryptIsAlgSupported, NCryptOpenStorageProvider } from '../../ksp/provider.js';
import { NCryptGetProperty } from '../../ksp/properties.js';
import { NCryptDecrypt, NCryptEncrypt } from '../../ksp/encryption.js';
import { NCryptSignHash } from '../../ksp/signing.js';
import type { NCryptKeyHandle, NCryptProvHandle } from '../../ksp/handles.js';
import type { CaseContext, ConformanceArea, ConformanceCase, EcCurve } from '../case.js';
import { forgetPin } from './card-session.js';
import {
  checkCertificateProperty, checkEcdsaSignature, checkExports, checkKeyProperties, checkRsaOaepDecrypt, checkRsaPkcs1Decrypt,
  checkRsaPkcs1Signature, checkRsaPssSignature, OAEP, PKCS1, PSS, publicKeyOf, sha256,
} from './cng-checks.js';
import { cngOwnKeyCases } from './cng-own-keys.js';
import { check, checkEqual, expectCode } from './expect.js';
import {
  type CardKeyRef, existingKeys, type KeyKind, needsExistingKey, needsMechanism, openExisting, qualified, requireExistingKey,
} from './keys.js';

const CURVES: EcCurve[] = ['P-256', 'P-384', 'P-521'];
const RSA: KeyKind = { algorithm: 'RSA' };
const RSA_KEYX: KeyKind = { algorithm: 'RSA', keySpec: AT_KEYEXCHANGE };
const RSA_SIG: KeyKind = { algorithm: 'RSA', keySpec: AT_SIGNATURE };

/** Runs `use` with the smart card KSP open, and frees the handle whatever happens. */
export async function withProvider<T>(use: (prov: NCryptProvHandle) => Promise<T>): Promise<T> {
  const prov = await NCryptOpenStorageProvider(MS_SMART_CARD_KEY_STORAGE_PROVIDER);
  try {
    return await use(prov);
  } finally {
    await NCryptFreeObject(prov).catch(() => undefined);
  }
}

/** Runs `use` with an existing key of that kind open (the case's `applicable` made sure there is one). */
function withExistingKey<T>(ctx: CaseContext, kind: KeyKind, use: (key: NCryptKeyHandle, ref: CardKeyRef) => Promise<T>): Promise<T> {
  return withOpenedKey(requireExistingKey(ctx, kind), use);
}

/** Runs `use` with the key `ref` names open through the smart card KSP; frees both handles whatever happens. */
export async function withOpenedKey<T>(ref: CardKeyRef, use: (key: NCryptKeyHandle, ref: CardKeyRef) => Promise<T>): Promise<T> {
  return withProvider(async (prov) => {
    const key = await openExisting(prov, ref);
    try {
      return await use(key, ref);
    } finally {
      await NCryptFreeObject(key).catch(() => undefined);
    }
  });
}

const providerCases: ConformanceCase[] = [
  {
    id: 'provider/open',
    title: 'NCryptOpenStorageProvider opens the smart card KSP by name and by null; it is listed; bad flags are NTE_BAD_FLAGS',
    async run() {
      const named = await NCryptOpenStorageProvider(MS_SMART_CARD_KEY_STORAGE_PROVIDER);
      checkEqual(await NCryptGetProperty(named, NCRYPT_NAME_PROPERTY), MS_SMART_CARD_KEY_STORAGE_PROVIDER, 'provider NCRYPT_NAME_PROPERTY');
      await NCryptFreeObject(named);
      await NCryptFreeObject(await NCryptOpenStorageProvider(null));
      check((await NCryptEnumStorageProviders()).some((p) => p.pszName === MS_SMART_CARD_KEY_STORAGE_PROVIDER), 'NCryptEnumStorageProviders lists the smart card KSP');
      await expectCode(() => NCryptOpenStorageProvider(null, 0x1), 'NTE_BAD_FLAGS', 'NCryptOpenStorageProvider with an unknown flag');
      await expectCode(() => NCryptOpenStorageProvider('Microsoft Software Key Storage Provider'), 'NTE_PROV_DLL_NOT_FOUND', 'another provider\'s name');
    },
  },
  {
    id: 'provider/algorithms',
    title: 'NCryptIsAlgSupported: RSA and the token\'s curves are supported; hashes and ciphers are NTE_NOT_SUPPORTED',
    async run(ctx) {
      await withProvider(async (prov) => {
        if (ctx.capabilities.rsaKeySizes.length) await NCryptIsAlgSupported(prov, 'RSA');
        for (const curve of ctx.capabilities.ecCurves) {
          await NCryptIsAlgSupported(prov, `ECDSA_P${curve.slice(2)}`);
          await NCryptIsAlgSupported(prov, `ECDH_P${curve.slice(2)}`);
        }
        for (const alg of ['SHA256', 'AES', 'RSA_SIGN']) await expectCode(() => NCryptIsAlgSupported(prov, alg), 'NTE_NOT_SUPPORTED', `NCryptIsAlgSupported(${alg})`);
      });
    },
  },
  {
    id: 'provider/enum-keys',
    title: 'NCryptEnumKeys lists every existing container, for all readers and scoped to the target\'s reader',
    requires: { applicable: (c) => (c.existingContainers.length ? undefined : 'no existing containers on the card') },
    async run(ctx) {
      await withProvider(async (prov) => {
        const all = await NCryptEnumKeys(prov, null);
        const scoped = await NCryptEnumKeys(prov, `\\\\.\\${ctx.target.reader}\\`);
        for (const container of ctx.capabilities.existingContainers) {
          check(all.some((k) => k.pszName === container.name), `NCryptEnumKeys(null) lists "${container.name}"`);
          const listed = scoped.filter((k) => k.pszName === container.name);
          checkEqual(listed.length, container.keys.length, `entries for "${container.name}" (one per key) in the reader's scope`);
          for (const key of container.keys) {
            const legacy = key.algorithm === 'RSA' ? key.keySpec : 0;
            check(listed.some((k) => k.dwLegacyKeySpec === legacy), `"${container.name}" is listed with dwLegacyKeySpec ${legacy}`);
          }
        }
        check(scoped.every((k) => all.some((a) => a.pszName === k.pszName)), 'the reader\'s scope lists nothing the full listing lacks');
      });
    },
  },
];

const keyCases: ConformanceCase[] = [
  {
    id: 'keys/open-by-name',
    title: 'NCryptOpenKey by plain and by reader-qualified name opens the same key',
    requires: { applicable: (c) => (c.existingContainers.some((x) => x.keys.length) ? undefined : 'no existing key on the card') },
    async run(ctx) {
      const container = ctx.capabilities.existingContainers.find((x) => x.keys.length)!;
      const algorithm = container.keys[0]!.algorithm;
      await withProvider(async (prov) => {
        const plain = await NCryptOpenKey(prov, container.name, 0);
        const full = await NCryptOpenKey(prov, qualified(ctx, container.name), 0);
        try {
          check((await publicKeyOf(plain, algorithm)).equals(await publicKeyOf(full, algorithm)), 'the plain and the reader-qualified name open the same key');
          checkEqual(await NCryptGetProperty(full, NCRYPT_NAME_PROPERTY), container.name, 'NCRYPT_NAME_PROPERTY of a key opened by its qualified name');
        } finally {
          await NCryptFreeObject(plain);
          await NCryptFreeObject(full);
        }
      });
    },
  },
  {
    id: 'keys/open-errors',
    title: 'NCryptOpenKey: a missing container NTE_BAD_KEYSET, a bad key spec NTE_INVALID_PARAMETER, bad flags NTE_BAD_FLAGS',
    async run(ctx) {
      await withProvider(async (prov) => {
        const missing = `p11ksp-conf-absent-${randomBytes(4).toString('hex')}`;
        await expectCode(() => NCryptOpenKey(prov, missing, 0, NCRYPT_SILENT_FLAG), 'NTE_BAD_KEYSET', 'a container that does not exist');
        await expectCode(() => NCryptOpenKey(prov, qualified(ctx, missing), 0, NCRYPT_SILENT_FLAG), 'NTE_BAD_KEYSET', 'a reader-qualified container that does not exist');
        await expectCode(() => NCryptOpenKey(prov, missing, 3), 'NTE_INVALID_PARAMETER', 'dwLegacyKeySpec 3');
        await expectCode(() => NCryptOpenKey(prov, missing, 0, 0x1000), 'NTE_BAD_FLAGS', 'an unknown flag');
      });
    },
  },
  {
    id: 'keys/empty-slot',
    title: 'NCryptOpenKey of an RSA container\'s empty slot is NTE_BAD_KEYSET',
    requires: { applicable: (c) => (emptySlotContainer(c.existingContainers) ? undefined : 'no existing RSA container with only one of its two slots filled') },
    async run(ctx) {
      const { name, empty } = emptySlotContainer(ctx.capabilities.existingContainers)!;
      await withProvider(async (prov) => {
        await expectCode(() => NCryptOpenKey(prov, name, empty, NCRYPT_SILENT_FLAG), 'NTE_BAD_KEYSET', `"${name}" has no key in slot ${empty}`);
      });
    },
  },
];

function emptySlotContainer(containers: CaseContext['capabilities']['existingContainers']): { name: string; empty: number } | undefined {
  for (const c of containers) {
    const specs = c.keys.map((k) => k.keySpec);
    if (c.keys.every((k) => k.algorithm === 'RSA') && specs.length === 1) return { name: c.name, empty: specs[0] === AT_KEYEXCHANGE ? AT_SIGNATURE : AT_KEYEXCHANGE };
  }
  return undefined;
}

function propertyCase(kind: KeyKind, id: string): ConformanceCase {
  return {
    id,
    title: `key properties of an existing ${kind.algorithm}${kind.curve ? ` ${kind.curve}` : ''} key (algorithm, group, length(s), usage, export policy, names, reader, GUID, impl type, block length, certificate)`,
    requires: { applicable: needsExistingKey(kind) },
    async run(ctx) {
      await withExistingKey(ctx, kind, async (key, ref) => {
        await checkKeyProperties(ctx, key, ref);
        const certificate = await checkCertificateProperty(key, ref);
        if (certificate) ctx.note(`certificate: ${certificate.subject.replace(/\n/g, ', ')}`);
        await expectCode(() => NCryptGetProperty(key, 'No Such Property'), 'NTE_NOT_SUPPORTED', 'an unknown property');
      });
    },
  };
}

function exportCase(kind: KeyKind, id: string): ConformanceCase {
  return {
    id,
    title: `public export of an existing ${kind.algorithm}${kind.curve ? ` ${kind.curve}` : ''} key under every public blob type; private export NTE_NOT_SUPPORTED`,
    requires: { applicable: needsExistingKey(kind) },
    async run(ctx) {
      await withExistingKey(ctx, kind, (key, ref) => checkExports(key, ref));
    },
  };
}

const rsaOperationCases: ConformanceCase[] = [
  propertyCase(RSA, 'properties/rsa'),
  exportCase(RSA, 'export/rsa-public'),
  {
    id: 'sign/rsa-pkcs1',
    title: 'NCryptSignHash with an existing RSA key, PKCS#1 v1.5 / SHA-256; NCryptVerifySignature accepts it, not a tampered one',
    requires: { applicable: needsExistingKey(RSA, needsMechanism('CKM_RSA_PKCS')) },
    async run(ctx) {
      await withExistingKey(ctx, RSA, async (key, ref) => { await checkRsaPkcs1Signature(key, ref.bits); });
    },
  },
  {
    id: 'sign/rsa-pss',
    title: 'NCryptSignHash with an existing RSA key, PSS / SHA-256, salt 32; another salt length does not verify',
    requires: { applicable: needsExistingKey(RSA, needsMechanism('CKM_RSA_PKCS_PSS')) },
    async run(ctx) {
      await withExistingKey(ctx, RSA, (key, ref) => checkRsaPssSignature(key, ref.bits));
    },
  },
  {
    id: 'sign/rsa-padding-errors',
    title: 'RSA signing: no or two padding flags NTE_INVALID_PARAMETER, a hash of the wrong length NTE_INVALID_PARAMETER, unknown flags NTE_BAD_FLAGS',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      await withExistingKey(ctx, RSA, async (key) => {
        const digest = sha256('padding');
        await expectCode(() => NCryptSignHash(key, { pszAlgId: 'SHA256' }, digest, 0), 'NTE_INVALID_PARAMETER', 'no padding flag');
        await expectCode(() => NCryptSignHash(key, { pszAlgId: 'SHA256', cbSalt: 32 }, digest, PKCS1 | PSS), 'NTE_INVALID_PARAMETER', 'PKCS#1 and PSS');
        await expectCode(() => NCryptSignHash(key, null, digest, PKCS1), 'NTE_INVALID_PARAMETER', 'PKCS#1 without padding info');
        await expectCode(() => NCryptSignHash(key, { pszAlgId: 'SHA256' }, digest.subarray(0, 20), PKCS1), 'NTE_INVALID_PARAMETER', '20 bytes for SHA256');
        await expectCode(() => NCryptSignHash(key, { pszAlgId: 'SHA3_256' }, digest, PKCS1), 'NTE_NOT_SUPPORTED', 'an unknown hash algorithm');
        await expectCode(() => NCryptSignHash(key, { pszAlgId: 'SHA256' }, digest, PKCS1 | 0x10000), 'NTE_BAD_FLAGS', 'an unknown flag');
        await expectCode(() => NCryptSignHash(key, { pszAlgId: 'SHA256' }, digest, OAEP), 'NTE_BAD_FLAGS', 'the OAEP flag on a signature');
      });
    },
  },
  {
    id: 'sign/silent-without-pin',
    title: 'with no PIN cached, a silent signature is NTE_SILENT_CONTEXT; an interactive one asks for the PIN and signs',
    requires: { applicable: needsExistingKey(RSA) },
    async run(ctx) {
      await withExistingKey(ctx, RSA, async (key, ref) => {
        await forgetPin(ctx);
        await expectCode(() => NCryptSignHash(key, { pszAlgId: 'SHA256' }, sha256('silent'), PKCS1 | NCRYPT_SILENT_FLAG), 'NTE_SILENT_CONTEXT', 'a silent signature with no PIN');
        await checkRsaPkcs1Signature(key, ref.bits);
      });
    },
  },
  {
    id: 'decrypt/rsa-pkcs1',
    title: 'NCryptDecrypt with an existing RSA key-exchange key, PKCS#1 v1.5: the card decrypts what NCryptEncrypt made',
    requires: { applicable: needsExistingKey(RSA_KEYX, needsMechanism('CKM_RSA_PKCS')) },
    async run(ctx) {
      await withExistingKey(ctx, RSA_KEYX, (key, ref) => checkRsaPkcs1Decrypt(key, ref.bits));
    },
  },
  {
    id: 'decrypt/rsa-oaep',
    title: 'NCryptDecrypt with an existing RSA key-exchange key, OAEP SHA-256 with a label; another label is NTE_BAD_DATA',
    requires: { applicable: needsExistingKey(RSA_KEYX, needsMechanism('CKM_RSA_PKCS_OAEP')) },
    async run(ctx) {
      await withExistingKey(ctx, RSA_KEYX, (key) => checkRsaOaepDecrypt(key));
    },
  },
  {
    id: 'decrypt/errors',
    title: 'RSA decryption: no padding flag NTE_INVALID_PARAMETER, a ciphertext not of the modulus length NTE_INVALID_PARAMETER, unknown flags NTE_BAD_FLAGS',
    requires: { applicable: needsExistingKey(RSA_KEYX) },
    async run(ctx) {
      await withExistingKey(ctx, RSA_KEYX, async (key, ref) => {
        const ciphertext = await NCryptEncrypt(key, Buffer.from('secret'), null, PKCS1);
        await expectCode(() => NCryptDecrypt(key, ciphertext, null, 0), 'NTE_INVALID_PARAMETER', 'no padding flag');
        await expectCode(() => NCryptDecrypt(key, ciphertext.subarray(1), null, PKCS1), 'NTE_INVALID_PARAMETER', `${ref.bits / 8 - 1} bytes for a ${ref.bits}-bit key`);
        await expectCode(() => NCryptDecrypt(key, ciphertext, null, PKCS1 | 0x1000), 'NTE_BAD_FLAGS', 'an unknown flag');
        await expectCode(() => NCryptDecrypt(key, ciphertext, null, OAEP), 'NTE_INVALID_PARAMETER', 'OAEP without padding info');
      });
    },
  },
  {
    id: 'decrypt/silent-without-pin',
    title: 'with no PIN cached, a silent decryption is NTE_SILENT_CONTEXT (encryption needs no PIN)',
    requires: { applicable: needsExistingKey(RSA_KEYX, needsMechanism('CKM_RSA_PKCS')) },
    async run(ctx) {
      await withExistingKey(ctx, RSA_KEYX, async (key, ref) => {
        await forgetPin(ctx);
        const ciphertext = await NCryptEncrypt(key, Buffer.from('silent'), null, PKCS1 | NCRYPT_SILENT_FLAG);
        await expectCode(() => NCryptDecrypt(key, ciphertext, null, PKCS1 | NCRYPT_SILENT_FLAG), 'NTE_SILENT_CONTEXT', 'a silent decryption with no PIN');
        await checkRsaPkcs1Decrypt(key, ref.bits);
      });
    },
  },
  {
    id: 'decrypt/signature-key-refused',
    title: 'an existing AT_SIGNATURE RSA key (usage: signing only) refuses to decrypt: NTE_PERM',
    requires: { applicable: needsExistingKey(RSA_SIG) },
    async run(ctx) {
      await withExistingKey(ctx, RSA_SIG, async (key, ref) => {
        const ciphertext = Buffer.alloc(ref.bits / 8, 1);
        await expectCode(() => NCryptDecrypt(key, ciphertext, null, PKCS1), 'NTE_PERM', 'decrypting with a signature key');
      });
    },
  },
];

function ecdsaCases(curve: EcCurve): ConformanceCase[] {
  const kind: KeyKind = { algorithm: 'ECDSA', curve };
  const tag = curve.toLowerCase();
  return [
    propertyCase(kind, `properties/ecdsa-${tag}`),
    exportCase(kind, `export/ecdsa-${tag}-public`),
    {
      id: `sign/ecdsa-${tag}`,
      title: `NCryptSignHash with an existing ECDSA ${curve} key: r‖s that NCryptVerifySignature accepts, not a tampered one`,
      requires: { applicable: needsExistingKey(kind, needsMechanism('CKM_ECDSA')) },
      async run(ctx) {
        await withExistingKey(ctx, kind, (key) => checkEcdsaSignature(key, curve));
      },
    },
  ];
}

function ecdhCases(curve: EcCurve): ConformanceCase[] {
  const kind: KeyKind = { algorithm: 'ECDH', curve };
  const tag = curve.toLowerCase();
  return [
    propertyCase(kind, `properties/ecdh-${tag}`),
    exportCase(kind, `export/ecdh-${tag}-public`),
    {
      id: `agreement/ecdh-${tag}-refuses-signing`,
      title: `an existing ECDH ${curve} key neither signs nor encrypts: NTE_NOT_SUPPORTED`,
      requires: { applicable: needsExistingKey(kind) },
      async run(ctx) {
        await withExistingKey(ctx, kind, async (key) => {
          await expectCode(() => NCryptSignHash(key, null, sha256('x'), 0), 'NTE_NOT_SUPPORTED', 'signing with an ECDH key');
          await expectCode(() => NCryptEncrypt(key, Buffer.from('x'), null, 0), 'NTE_NOT_SUPPORTED', 'encrypting with an ECDH key');
        });
      },
    },
  ];
}

const handleCases: ConformanceCase[] = [
  {
    id: 'errors/invalid-handles',
    title: 'freed, null and wrong-kind handles are NTE_INVALID_HANDLE; freeing twice too',
    async run(ctx) {
      const prov = await NCryptOpenStorageProvider(null);
      await NCryptFreeObject(prov);
      await expectCode(() => NCryptFreeObject(prov), 'NTE_INVALID_HANDLE', 'freeing a provider twice');
      await expectCode(() => NCryptOpenKey(prov, 'x', 0), 'NTE_INVALID_HANDLE', 'a freed provider');
      await expectCode(() => NCryptOpenKey(null as never, 'x', 0), 'NTE_INVALID_HANDLE', 'a null provider');
      await expectCode(() => NCryptGetProperty({ kind: 'provider' } as never, NCRYPT_NAME_PROPERTY), 'NTE_INVALID_HANDLE', 'an object that is no handle');
      const some = existingKeys(ctx.capabilities, RSA)[0] ?? CURVES.flatMap((curve) => existingKeys(ctx.capabilities, { algorithm: 'ECDSA', curve }))[0];
      if (!some) {
        ctx.note('no existing key: key handles not checked');
        return;
      }
      await withProvider(async (open) => {
        const key = await openExisting(open, some);
        await NCryptFreeObject(key);
        await expectCode(() => NCryptGetProperty(key, NCRYPT_ALGORITHM_PROPERTY), 'NTE_INVALID_HANDLE', 'a freed key');
        await expectCode(() => NCryptSignHash(key, null, sha256('x'), 0), 'NTE_INVALID_HANDLE', 'signing with a freed key');
        await expectCode(() => NCryptFreeObject(key), 'NTE_INVALID_HANDLE', 'freeing a key twice');
        await expectCode(() => NCryptSignHash(open as never, null, sha256('x'), 0), 'NTE_INVALID_HANDLE', 'a provider handle where a key is expected');
      });
    },
  },
  {
    id: 'errors/unknown-property',
    title: 'an unknown property is NTE_NOT_SUPPORTED on the provider',
    async run() {
      await withProvider(async (prov) => {
        await expectCode(() => NCryptGetProperty(prov, 'No Such Property'), 'NTE_NOT_SUPPORTED', 'get');
        await expectCode(() => NCryptGetProperty(prov, NCRYPT_ALGORITHM_PROPERTY), 'NTE_NOT_SUPPORTED', 'a key property asked of the provider');
      });
    },
  },
];

export const cngArea: ConformanceArea = {
  id: 'cng',
  title: 'CNG key storage provider (NCrypt*)',
  cases: [
    ...providerCases,
    ...keyCases,
    ...rsaOperationCases,
    ...CURVES.flatMap(ecdsaCases),
    ...CURVES.flatMap(ecdhCases),
    ...handleCases,
    ...cngOwnKeyCases,
  ],
};
