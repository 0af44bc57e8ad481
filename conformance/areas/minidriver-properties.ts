/**
 * Minidriver cases: the context itself (version, capabilities, free space, key sizes, handles after
 * CardDeleteContext) and CardGetProperty / CardSetProperty for every CP_* the contract lists, with the
 * specification's error rules (minidriver.md §6, §8). The TypeScript contract returns whole values
 * instead of size-query buffers, so the "short buffer → ERROR_INSUFFICIENT_BUFFER" rule has no call
 * to check here; the rules that remain are names, flags and read-only properties.
 */
import {
  AT_ECDSA_P256, AT_KEYEXCHANGE, CARD_DATA_VALUE_UNKNOWN, CARD_KEY_IMPORT_PLAIN_TEXT, CP_CACHE_MODE_GLOBAL_CACHE,
  CP_CACHE_MODE_NO_CACHE, CP_CACHE_MODE_SESSION_ONLY, CREATE_PIN_SET, PIN_INFO_CURRENT_VERSION, ROLE_ADMIN, ROLE_USER,
  szCARD_IDENTIFIER_FILE,
} from '../../minidriver/constants.js';
import { CryptError } from '../../minidriver/errors.js';
import type { CardPropertyName } from '../../minidriver/structures.js';
import type { ConformanceCase } from '../case.js';
import { check, checkEqual, expectCode, expectCodeIn } from './expect.js';
import { curveBits } from './keys.js';
import { containerIndex, ecdsaKeySpec, unusedIndex, withCardModule } from './minidriver-support.js';

/** Every CP_* property the contract reads, with the dwFlags it is read with. */
const READABLE: readonly { name: CardPropertyName; flags: number }[] = [
  { name: 'Free Space', flags: 0 },
  { name: 'Capabilities', flags: 0 },
  { name: 'Key Sizes', flags: AT_KEYEXCHANGE },
  { name: 'Read Only Mode', flags: 0 },
  { name: 'Cache Mode', flags: 0 },
  { name: 'Supports Windows x.509 Enrollment', flags: 0 },
  { name: 'Card Identifier', flags: 0 },
  { name: 'Card Serial Number', flags: 0 },
  { name: 'PIN Information', flags: ROLE_USER },
  { name: 'PIN List', flags: 0 },
  { name: 'Authenticated State', flags: 0 },
  { name: 'PIN Strength Verify', flags: ROLE_USER },
  { name: 'PIN Strength Change', flags: ROLE_USER },
  { name: 'PIN Strength Unblock', flags: ROLE_USER },
  { name: 'Key Import Support', flags: 0 },
];

/** What an optional entry point may answer to arguments no card accepts (minidriver.md §3, §8). */
const REFUSALS_OF_ENTRY_POINTS = ['SCARD_E_UNSUPPORTED_FEATURE', 'SCARD_E_INVALID_PARAMETER', 'SCARD_E_NO_KEY_CONTAINER', 'SCARD_E_INVALID_HANDLE'] as const;

/** What the specification allows for a property a card does not offer (minidriver.md §6). */
const REFUSALS: readonly string[] = ['SCARD_E_INVALID_PARAMETER', 'SCARD_E_UNSUPPORTED_FEATURE'];

/** Properties read with dwFlags 0 only: a stray flag is SCARD_E_INVALID_PARAMETER. */
const FLAGLESS: readonly CardPropertyName[] = ['Free Space', 'Capabilities', 'Read Only Mode', 'Cache Mode', 'Card Identifier', 'PIN List'];

/** Properties no application may set (CP_CARD_FREE_SPACE, _CAPABILITIES, _KEYSIZES, _LIST_PINS...). */
const READ_ONLY_PROPERTIES: readonly CardPropertyName[] = ['Free Space', 'Capabilities', 'Key Sizes', 'PIN List', 'Authenticated State', 'PIN Strength Verify'];

export const minidriverContextCases: ConformanceCase[] = [
  {
    id: 'context/version',
    title: 'The context\'s negotiated dwVersion is 4..7 and CardQueryCapabilities answers a version-1 CARD_CAPABILITIES consistent with the probe',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        check(md.dwVersion >= 4 && md.dwVersion <= 7, `dwVersion ${md.dwVersion} is within 4..7`);
        ctx.note(`negotiated CARD_DATA version ${md.dwVersion}`);
        const caps = await md.CardQueryCapabilities();
        checkEqual(caps.dwVersion, 1, 'CARD_CAPABILITIES.dwVersion');
        checkEqual(typeof caps.fKeyGen, 'boolean', 'fKeyGen is a BOOL');
        checkEqual(typeof caps.fCertificateCompression, 'boolean', 'fCertificateCompression is a BOOL');
        if (ctx.capabilities.readOnly) checkEqual(caps.fKeyGen, false, 'a read-only card generates no keys (fKeyGen)');
        const viaProperty = await md.CardGetProperty('Capabilities', 0);
        checkEqual(viaProperty.fKeyGen, caps.fKeyGen, 'CP_CARD_CAPABILITIES.fKeyGen equals CardQueryCapabilities');
        checkEqual(viaProperty.fCertificateCompression, caps.fCertificateCompression, 'CP_CARD_CAPABILITIES.fCertificateCompression equals CardQueryCapabilities');
      });
    },
  },
  {
    id: 'context/free-space',
    title: 'CardQueryFreeSpace: a version-1 CARD_FREE_SPACE_INFO; no free container on a read-only card; dwFlags other than 0 is SCARD_E_INVALID_PARAMETER',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        const info = await md.CardQueryFreeSpace(0);
        checkEqual(info.dwVersion, 1, 'CARD_FREE_SPACE_INFO.dwVersion');
        check(info.dwMaxKeyContainers > 0, 'dwMaxKeyContainers is positive');
        check(info.dwKeyContainersAvailable === CARD_DATA_VALUE_UNKNOWN || info.dwKeyContainersAvailable <= info.dwMaxKeyContainers, 'dwKeyContainersAvailable is at most dwMaxKeyContainers');
        if (ctx.capabilities.readOnly) checkEqual(info.dwKeyContainersAvailable, 0, 'free containers on a read-only card');
        ctx.note(`free space: ${info.dwBytesAvailable === CARD_DATA_VALUE_UNKNOWN ? 'unknown' : `${info.dwBytesAvailable} bytes`}, ${info.dwKeyContainersAvailable} of ${info.dwMaxKeyContainers} containers`);
        const viaProperty = await md.CardGetProperty('Free Space', 0);
        checkEqual(viaProperty.dwMaxKeyContainers, info.dwMaxKeyContainers, 'CP_CARD_FREE_SPACE.dwMaxKeyContainers equals CardQueryFreeSpace');
        await expectCode(() => md.CardQueryFreeSpace(0x1), 'SCARD_E_INVALID_PARAMETER', 'CardQueryFreeSpace with dwFlags 1');
      });
    },
  },
  {
    id: 'context/key-sizes',
    title: 'CardQueryKeySizes: RSA sizes cover the probe\'s sizes; ECC sizes are the curve\'s; an unknown key spec or a flag is SCARD_E_INVALID_PARAMETER',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        const rsa = await md.CardQueryKeySizes(AT_KEYEXCHANGE, 0);
        checkEqual(rsa.dwVersion, 1, 'CARD_KEY_SIZES.dwVersion');
        check(rsa.dwMinimumBitlen <= rsa.dwDefaultBitlen && rsa.dwDefaultBitlen <= rsa.dwMaximumBitlen, `RSA min ${rsa.dwMinimumBitlen} <= default ${rsa.dwDefaultBitlen} <= max ${rsa.dwMaximumBitlen}`);
        if (!ctx.capabilities.readOnly) {
          for (const bits of ctx.capabilities.rsaKeySizes) {
            check(bits >= rsa.dwMinimumBitlen && bits <= rsa.dwMaximumBitlen, `RSA ${bits} (a size the probe found) lies within CARD_KEY_SIZES ${rsa.dwMinimumBitlen}..${rsa.dwMaximumBitlen}`);
          }
        }
        for (const curve of ctx.capabilities.ecCurves) {
          const ec = await md.CardQueryKeySizes(ecdsaKeySpec(curve), 0);
          checkEqual(ec.dwMinimumBitlen, curveBits(curve), `${curve} dwMinimumBitlen`);
          checkEqual(ec.dwMaximumBitlen, curveBits(curve), `${curve} dwMaximumBitlen`);
        }
        const viaProperty = await md.CardGetProperty('Key Sizes', AT_KEYEXCHANGE);
        checkEqual(viaProperty.dwMaximumBitlen, rsa.dwMaximumBitlen, 'CP_CARD_KEYSIZES (flags AT_KEYEXCHANGE) equals CardQueryKeySizes');
        await expectCode(() => md.CardQueryKeySizes(99, 0), 'SCARD_E_INVALID_PARAMETER', 'CardQueryKeySizes with key spec 99');
        await expectCode(() => md.CardQueryKeySizes(AT_ECDSA_P256, 0x10), 'SCARD_E_INVALID_PARAMETER', 'CardQueryKeySizes with dwFlags 0x10');
      });
    },
  },
  {
    id: 'context/deleted-handle',
    title: 'After CardDeleteContext every entry point of that context is SCARD_E_INVALID_HANDLE; deleting twice is harmless; another context still works',
    async run(ctx) {
      const md = await ctx.cardModule();
      await md.CardDeleteContext();
      await md.CardDeleteContext();
      await expectCode(() => md.CardQueryCapabilities(), 'SCARD_E_INVALID_HANDLE', 'CardQueryCapabilities on a deleted context');
      await expectCode(() => md.CardReadFile(null, szCARD_IDENTIFIER_FILE), 'SCARD_E_INVALID_HANDLE', 'CardReadFile on a deleted context');
      await expectCode(() => md.CardGetProperty('Card Identifier'), 'SCARD_E_INVALID_HANDLE', 'CardGetProperty on a deleted context');
      await expectCode(() => md.CardGetContainerInfo(0), 'SCARD_E_INVALID_HANDLE', 'CardGetContainerInfo on a deleted context');
      await expectCode(() => md.CardGetChallenge(), 'SCARD_E_INVALID_HANDLE', 'CardGetChallenge (an entry point the card may not offer) on a deleted context');
      const other = await ctx.cardModule();
      checkEqual((await other.CardQueryCapabilities()).dwVersion, 1, 'a second context answers CardQueryCapabilities');
    },
  },
  {
    id: 'context/optional-entry-points',
    title: 'Optional entry points the card does not offer (secure key injection, CardSetContainerProperty...) answer SCARD_E_UNSUPPORTED_FEATURE or refuse the arguments with SCARD_E_INVALID_PARAMETER, never succeed on nonsense',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        const junk = Buffer.alloc(16);
        const calls: [string, () => Promise<unknown>][] = [
          ['MDImportSessionKey', () => md.MDImportSessionKey('NoSuchBlob', 'NoSuchAlg', junk)],
          ['MDEncryptData', () => md.MDEncryptData(0x7fffffff, 'NoSuchFunction', junk, 0)],
          ['CardImportSessionKey', () => md.CardImportSessionKey(255, null, 'NoSuchBlob', 'NoSuchAlg', junk, 0)],
          ['CardGetSharedKeyHandle', () => md.CardGetSharedKeyHandle(junk, 0)],
          ['CardGetAlgorithmProperty', () => md.CardGetAlgorithmProperty('NoSuchAlg', 'NoSuchProperty', 0)],
          ['CardGetKeyProperty', () => md.CardGetKeyProperty(0x7fffffff, 'NoSuchProperty', 0)],
          ['CardSetKeyProperty', () => md.CardSetKeyProperty(0x7fffffff, 'NoSuchProperty', junk, 0)],
          ['CardDestroyKey', () => md.CardDestroyKey(0x7fffffff)],
          ['CardProcessEncryptedData', () => md.CardProcessEncryptedData(0x7fffffff, 'NoSuchFunction', [junk], 0)],
          ['CardSetContainerProperty', () => md.CardSetContainerProperty(255, 'Container Info', { dwVersion: 1, pbSigPublicKey: null, pbKeyExPublicKey: null }, 0)],
        ];
        const offered: string[] = [];
        for (const [name, call] of calls) {
          const err = await expectCodeIn(call, [...REFUSALS_OF_ENTRY_POINTS], `${name} with arguments no card accepts`);
          if (err.codeName !== 'SCARD_E_UNSUPPORTED_FEATURE') offered.push(name);
        }
        ctx.note(offered.length ? `offered (arguments refused): ${offered.join(', ')}` : 'none of them is offered (SCARD_E_UNSUPPORTED_FEATURE)');
      });
    },
  },
];

export const minidriverPropertyCases: ConformanceCase[] = [
  {
    id: 'properties/every-readable',
    title: 'CardGetProperty answers every readable CP_* property the contract lists, with values of the specified shape',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        for (const { name, flags } of READABLE) await md.CardGetProperty(name, flags);
        const guid = await md.CardGetProperty('Card Identifier');
        checkEqual(guid.length, 16, 'CP_CARD_GUID length');
        check(guid.equals(await md.CardReadFile(null, szCARD_IDENTIFIER_FILE)), 'CP_CARD_GUID equals the cardid file');
        checkEqual(await md.CardGetProperty('Read Only Mode'), ctx.capabilities.readOnly, 'CP_CARD_READ_ONLY agrees with the probe');
        if (ctx.capabilities.readOnly) checkEqual(await md.CardGetProperty('Supports Windows x.509 Enrollment'), false, 'CP_SUPPORTS_WIN_X509_ENROLLMENT on a read-only card');
        const mode = await md.CardGetProperty('Cache Mode');
        check([CP_CACHE_MODE_GLOBAL_CACHE, CP_CACHE_MODE_SESSION_ONLY, CP_CACHE_MODE_NO_CACHE].includes(mode), `CP_CARD_CACHE_MODE ${mode} is GLOBAL 1, SESSION_ONLY 2 or NO_CACHE 3`);
        if (ctx.capabilities.readOnly) check(mode !== CP_CACHE_MODE_GLOBAL_CACHE, 'a read-only card (cardcf cannot be written) is not GLOBAL_CACHE');
        const pins = await md.CardGetProperty('PIN List');
        check((pins & CREATE_PIN_SET(ROLE_USER)) !== 0, 'CP_CARD_LIST_PINS includes ROLE_USER');
        const info = await md.CardGetProperty('PIN Information', ROLE_USER);
        checkEqual(info.dwVersion, PIN_INFO_CURRENT_VERSION, 'PIN_INFO.dwVersion');
        check(info.PinCachePolicy.PinCachePolicyType >= 0 && info.PinCachePolicy.PinCachePolicyType <= 3, 'PIN_CACHE_POLICY type is 0..3');
        const serial = await md.CardGetProperty('Card Serial Number');
        check(serial.length > 0, 'CP_CARD_SERIAL_NO is not empty');
        const imports = await md.CardGetProperty('Key Import Support');
        checkEqual((imports & CARD_KEY_IMPORT_PLAIN_TEXT) !== 0, ctx.capabilities.keyImport, 'CP_KEY_IMPORT_SUPPORT plain-text bit agrees with the probe');
        ctx.note(`cache mode ${mode}; PIN list 0x${pins.toString(16)}; key import 0x${imports.toString(16)}`);
      });
    },
  },
  {
    id: 'properties/authenticated-state',
    title: 'CP_CARD_AUTHENTICATED_STATE follows CardAuthenticatePin and CardDeauthenticateEx for ROLE_USER',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        await ctx.withPin((pin) => md.CardAuthenticatePin('user', pin));
        check((await md.CardGetProperty('Authenticated State')) & CREATE_PIN_SET(ROLE_USER), 'ROLE_USER is in the authenticated state after CardAuthenticatePin');
        await md.CardDeauthenticateEx(CREATE_PIN_SET(ROLE_USER), 0);
        checkEqual((await md.CardGetProperty('Authenticated State')) & CREATE_PIN_SET(ROLE_USER), 0, 'ROLE_USER bit after CardDeauthenticateEx');
        await ctx.withPin((pin) => md.CardAuthenticatePin('user', pin)); // leave the PIN verified, as the other cases expect
      });
    },
  },
  {
    id: 'properties/bad-name',
    title: 'An unknown property name is SCARD_E_INVALID_PARAMETER or SCARD_E_UNSUPPORTED_FEATURE for CardGetProperty and CardSetProperty',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        const bogus = 'No Such Property' as CardPropertyName;
        const codes = ['SCARD_E_INVALID_PARAMETER', 'SCARD_E_UNSUPPORTED_FEATURE'];
        for (const [what, call] of [
          ['CardGetProperty', () => md.CardGetProperty(bogus, 0)],
          ['CardSetProperty', () => md.CardSetProperty(bogus, 0 as never, 0)],
        ] as const) {
          const err = await expectCodeIn(call, codes, `${what} with an unknown name`);
          ctx.note(`${what}("No Such Property") → ${err.codeName}`);
        }
      });
    },
  },
  {
    id: 'properties/bad-flags',
    title: 'Properties read with dwFlags 0 refuse other flags, and PIN properties refuse an unknown PIN_ID, with SCARD_E_INVALID_PARAMETER',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        for (const name of FLAGLESS) await expectCode(() => md.CardGetProperty(name, 0x8), 'SCARD_E_INVALID_PARAMETER', `CardGetProperty("${name}", 0x8)`);
        await expectCode(() => md.CardGetProperty('PIN Information', 7), 'SCARD_E_INVALID_PARAMETER', 'CP_CARD_PIN_INFO for PIN_ID 7 (no such PIN)');
        await expectCode(() => md.CardGetProperty('Key Sizes', 99), 'SCARD_E_INVALID_PARAMETER', 'CP_CARD_KEYSIZES for key spec 99');
        await expectCode(() => md.CardSetProperty('PIN Context String', 'p11-ksp conformance', 0x4), 'SCARD_E_INVALID_PARAMETER', 'CardSetProperty with dwFlags 4');
      });
    },
  },
  {
    id: 'properties/set-rules',
    title: 'CP_PARENT_WINDOW and CP_PIN_CONTEXT_STRING are settable on every card; read-only properties are SCARD_E_UNSUPPORTED_FEATURE or SCARD_W_SECURITY_VIOLATION',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        await md.CardSetProperty('Parent Window', 0, 0);
        await md.CardSetProperty('PIN Context String', 'p11-ksp conformance suite', 0);
        for (const name of READ_ONLY_PROPERTIES) {
          const value = await md.CardGetProperty(name, name === 'Key Sizes' ? AT_KEYEXCHANGE : name === 'PIN Strength Verify' ? ROLE_USER : 0);
          await expectCodeIn(() => md.CardSetProperty(name, value as never, 0), ['SCARD_E_UNSUPPORTED_FEATURE', 'SCARD_W_SECURITY_VIOLATION'], `CardSetProperty("${name}")`);
        }
        if (ctx.capabilities.readOnly) {
          await expectCodeIn(() => md.CardSetProperty('Read Only Mode', false, 0), ['SCARD_E_UNSUPPORTED_FEATURE', 'SCARD_W_SECURITY_VIOLATION'], 'clearing CP_CARD_READ_ONLY on a read-only card');
        }
        // ROLE_ADMIN's PIN_INFO exists on every card (roles 0-2 are mandatory).
        await md.CardGetProperty('PIN Information', ROLE_ADMIN);
      });
    },
  },
  {
    id: 'properties/v7-lists',
    title: 'The version-7 properties (CP_ENUM_ALGORITHMS, CP_PADDING_SCHEMES, CP_CHAINING_MODES) answer with values of their type or are refused with SCARD_E_INVALID_PARAMETER / SCARD_E_UNSUPPORTED_FEATURE',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        if (md.dwVersion < 7) {
          await expectCodeIn(() => md.CardGetProperty('Padding Schemes', 0), REFUSALS, 'a version-7 property on a version-6 context');
          return;
        }
        for (const [name, flags, kind] of [['Algorithms', 2, 'list'], ['Padding Schemes', 0, 'number'], ['Chaining Modes', 0, 'list']] as const) {
          try {
            const value = await md.CardGetProperty(name, flags);
            check(kind === 'list' ? Array.isArray(value) && value.every((v) => typeof v === 'string') : Number.isInteger(value), `"${name}" is a ${kind === 'list' ? 'multi-string' : 'DWORD'}`);
            ctx.note(`"${name}": ${Array.isArray(value) ? value.join(', ') || '(empty)' : `0x${Number(value).toString(16)}`}`);
          } catch (err) {
            if (!(err instanceof CryptError) || !REFUSALS.includes(err.codeName)) throw err;
            ctx.note(`"${name}": ${err.codeName}`);
          }
        }
      });
    },
  },
  {
    id: 'properties/write-only',
    title: 'CP_PARENT_WINDOW and CP_PIN_CONTEXT_STRING are write-only: CardGetProperty refuses them with SCARD_E_INVALID_PARAMETER or SCARD_E_UNSUPPORTED_FEATURE',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        await expectCodeIn(() => md.CardGetProperty('Parent Window', 0), REFUSALS, 'reading CP_PARENT_WINDOW');
        await expectCodeIn(() => md.CardGetProperty('PIN Context String', 0), REFUSALS, 'reading CP_PIN_CONTEXT_STRING');
      });
    },
  },
  {
    id: 'properties/container',
    title: 'CardGetContainerProperty: CCP_CONTAINER_INFO equals CardGetContainerInfo, CCP_PIN_IDENTIFIER names a listed PIN; a bad index is SCARD_E_NO_KEY_CONTAINER',
    requires: { applicable: (c) => (c.existingContainers.length ? undefined : 'the card has no container') },
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        const name = ctx.capabilities.existingContainers[0]!.name;
        const index = await containerIndex(md, name);
        const direct = await md.CardGetContainerInfo(index, 0);
        const viaProperty = await md.CardGetContainerProperty(index, 'Container Info', 0);
        check(sameBytes(direct.pbSigPublicKey, viaProperty.pbSigPublicKey) && sameBytes(direct.pbKeyExPublicKey, viaProperty.pbKeyExPublicKey), 'CCP_CONTAINER_INFO holds the same blobs as CardGetContainerInfo');
        const pinId = await md.CardGetContainerProperty(index, 'PIN Identifier', 0);
        check((await md.CardGetProperty('PIN List')) & CREATE_PIN_SET(pinId), `CCP_PIN_IDENTIFIER ${pinId} is in CP_CARD_LIST_PINS`);
        const bad = await unusedIndex(md);
        await expectCode(() => md.CardGetContainerProperty(bad, 'Container Info', 0), 'SCARD_E_NO_KEY_CONTAINER', `CCP_CONTAINER_INFO of unused index ${bad}`);
        await expectCode(() => md.CardGetContainerProperty(index, 'Container Info', 0x2), 'SCARD_E_INVALID_PARAMETER', 'CardGetContainerProperty with dwFlags 2');
      });
    },
  },
];

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}
