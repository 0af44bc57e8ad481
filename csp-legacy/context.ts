/**
 * Contexts of the smart card CSP: CryptAcquireContext, CryptReleaseContext, CryptGenRandom.
 *
 * One provider is registered: MS_SCARD_PROV ("Microsoft Base Smart Card Crypto Provider"), type
 * PROV_RSA_FULL, served by the process's smart card service (smartcard/default-service.ts) unless the
 * application installed its own with setDefaultSmartCardService. `null` and '' name it too.
 *
 * Container names take the four specification levels of the smart card architecture
 * (smartcard/container-spec.ts): `\\.\<reader>\<container>`, `\\.\<reader>\`, `<container>`, null.
 * The card is found by smart card selection (smartcard/selection.ts): known cards first, then the cards
 * present, then the UI (never for a CRYPT_SILENT context).
 *
 * dwFlags, as Windows' smart card CSP takes them (reference A1–A11):
 *   0                     open the container (NTE_BAD_KEYSET when no card present holds it);
 *   CRYPT_NEWKEYSET       create it, empty (A3); NTE_EXISTS when the named card holds it; never silent
 *                         unless the PIN is cached (NTE_SILENT_CONTEXT);
 *   CRYPT_DELETEKEYSET    delete it (authenticated); resolves to null, no context (A6);
 *   CRYPT_VERIFYCONTEXT   public data only, never a PIN (A4); with a null name no key and no UI: the card
 *                         is bound when a parameter first needs one; with NEWKEYSET the same (A5);
 *   CRYPT_MACHINE_KEYSET  with any of them: no cached card data (selection and PIN info read the card);
 *   CRYPT_SILENT          with any of them: never a UI; where one is needed, NTE_SILENT_CONTEXT;
 *   CRYPT_DEFAULT_CONTAINER_OPTIONAL  levels II/IV: a card without a default container still gives a
 *                         context (hashing, session keys, PP_KEYEXCHANGE_PIN; no key pair).
 * Any other combination of NEWKEYSET / DELETEKEYSET / VERIFYCONTEXT, and unknown bits, are NTE_BAD_FLAGS (A7).
 */
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { CryptError } from '../minidriver/errors.js';
import { assertCreateAllowed, withAuthentication } from '../smartcard/authentication.js';
import type { CardContainer, SmartCard } from '../smartcard/card.js';
import { type ContainerSpec, parseContainerSpec } from '../smartcard/container-spec.js';
import { defaultSmartCardService } from '../smartcard/default-service.js';
import type { SmartCardService } from '../smartcard/service.js';
import { Interaction } from '../smartcard/ui.js';
import { authenticationContext } from './card-access.js';
import {
  CRYPT_DEFAULT_CONTAINER_OPTIONAL, CRYPT_DELETEKEYSET, CRYPT_MACHINE_KEYSET, CRYPT_NEWKEYSET, CRYPT_SILENT, CRYPT_VERIFYCONTEXT,
  MS_SCARD_PROV, PROV_RSA_FULL,
} from './constants.js';
import { type ContextState, HCRYPTKEY, HCRYPTPROV, useHandle } from './handles.js';

const ACQUIRE_FLAGS = (CRYPT_VERIFYCONTEXT | CRYPT_NEWKEYSET | CRYPT_DELETEKEYSET | CRYPT_MACHINE_KEYSET | CRYPT_SILENT | CRYPT_DEFAULT_CONTAINER_OPTIONAL) >>> 0;
/** The longest container name string Windows passes around (MAX_PATH, without the NUL). */
const MAX_PATH = 260;
/** CryptoAPI's provider types are 1..999 (reference §1.1). */
const MAX_PROV_TYPE = 999;
/** randomBytes' limit; a longer buffer could not be allocated anyway. */
const MAX_RANDOM_LENGTH = 2 ** 31 - 1;

type ContainerOperation = 'open' | 'create' | 'delete' | 'verify';

/**
 * The provider a name and type mean, in advapi32's order (A1): type range, then the name (null/'' is
 * the default provider of the type), then the name's registered type.
 */
function resolveProvider(provider: unknown, provType: unknown, operation: string): string {
  if (typeof provType !== 'number' || !Number.isInteger(provType) || provType < 1 || provType > MAX_PROV_TYPE) {
    throw new CryptError('NTE_BAD_PROV_TYPE', `dwProvType must be a provider type from 1 to ${MAX_PROV_TYPE}, not ${String(provType)}; the smart card CSP is PROV_RSA_FULL (1)`, { operation });
  }
  if (provider !== null && provider !== undefined && typeof provider !== 'string') {
    throw new CryptError('ERROR_INVALID_PARAMETER', 'the provider name is a string, or null for the default provider', { operation });
  }
  if (!provider) {
    if (provType !== PROV_RSA_FULL) {
      throw new CryptError('NTE_PROV_TYPE_NOT_DEF', `no provider of type ${provType} is installed here; the smart card CSP is PROV_RSA_FULL (1) — it also offers AES and SHA-2`, { operation });
    }
    return MS_SCARD_PROV;
  }
  // Provider names are registry key names on Windows: matched without regard to case.
  if (provider.toLowerCase() !== MS_SCARD_PROV.toLowerCase()) {
    throw new CryptError('NTE_KEYSET_NOT_DEF', `no provider "${provider}" is installed here; use MS_SCARD_PROV ("${MS_SCARD_PROV}") or null`, { operation });
  }
  if (provType !== PROV_RSA_FULL) {
    throw new CryptError('NTE_PROV_TYPE_NO_MATCH', `"${MS_SCARD_PROV}" is of type PROV_RSA_FULL (1), not ${provType}; pass PROV_RSA_FULL`, { operation });
  }
  return MS_SCARD_PROV;
}

/** The flags as a DWORD and the container operation they ask for; NTE_BAD_FLAGS otherwise (A5, A7). */
function containerOperation(flags: unknown, operation: string): { flags: number; op: ContainerOperation } {
  // JavaScript's | makes CRYPT_VERIFYCONTEXT | x a negative int32: the same 32 bits, taken as a DWORD.
  if (typeof flags !== 'number' || !Number.isInteger(flags) || flags < -0x80000000 || flags > 0xffffffff) {
    throw new CryptError('NTE_BAD_FLAGS', `dwFlags must be a DWORD, not ${String(flags)}`, { operation });
  }
  flags >>>= 0;
  const unknown = (flags & ~ACQUIRE_FLAGS) >>> 0;
  if (unknown !== 0) throw new CryptError('NTE_BAD_FLAGS', `dwFlags bits 0x${unknown.toString(16)} are not CryptAcquireContext flags`, { operation });
  const verify = (flags & CRYPT_VERIFYCONTEXT) >>> 0;
  const create = (flags & CRYPT_NEWKEYSET) !== 0;
  const remove = (flags & CRYPT_DELETEKEYSET) !== 0;
  const combination = (): never => {
    throw new CryptError('NTE_BAD_FLAGS', 'CRYPT_NEWKEYSET, CRYPT_DELETEKEYSET and CRYPT_VERIFYCONTEXT combine only as CRYPT_VERIFYCONTEXT | CRYPT_NEWKEYSET; pass one of them', { operation });
  };
  // CRYPT_VERIFYCONTEXT is four bits (0xF0000000): some of them only is no flag Windows knows.
  if (verify !== 0 && verify !== CRYPT_VERIFYCONTEXT) combination();
  if (verify !== 0) return remove ? combination() : { flags, op: 'verify' };
  if (create && remove) combination();
  return { flags, op: create ? 'create' : remove ? 'delete' : 'open' };
}

/** The container name as a specification (NTE_BAD_KEYSET_PARAM for names a card cannot hold). */
function containerSpec(container: unknown, operation: string): ContainerSpec {
  if (container !== null && container !== undefined && typeof container !== 'string') {
    throw new CryptError('ERROR_INVALID_PARAMETER', 'the container name is a string, or null for the default container', { operation });
  }
  if (typeof container === 'string' && container.length > MAX_PATH) {
    throw new CryptError('NTE_BAD_KEYSET_PARAM', `the container name is ${container.length} characters; at most ${MAX_PATH} (and 39 for the container itself)`, { operation });
  }
  return parseContainerSpec(container, operation);
}

/**
 * CryptAcquireContext. Resolves to the context, or to null with CRYPT_DELETEKEYSET (the container is
 * deleted and no context is made: Windows writes 0 into phProv, A6). TypeScript cannot tell the two
 * from a flags value computed at run time, so the general signature promises a context; pass the
 * literal CRYPT_DELETEKEYSET (or test for null) where a delete is asked.
 */
export function CryptAcquireContext(container: string | null, provider: string | null, provType: number, flags: typeof CRYPT_DELETEKEYSET): Promise<null>;
export function CryptAcquireContext(container: string | null, provider: string | null, provType: number, flags?: number): Promise<HCRYPTPROV>;
export async function CryptAcquireContext(container: string | null, provider: string | null, provType: number, flags = 0): Promise<HCRYPTPROV | null> {
  const operation = 'CryptAcquireContext';
  const providerName = resolveProvider(provider, provType, operation);
  const { flags: f, op } = containerOperation(flags, operation);
  const spec = containerSpec(container, operation);
  const service = await defaultSmartCardService();
  const context: ContextState = {
    providerName,
    provType,
    containerName: spec.level === 4 ? null : container,
    flags: f,
    silent: (f & CRYPT_SILENT) !== 0,
    machine: (f & CRYPT_MACHINE_KEYSET) !== 0,
    verifyOnly: op === 'verify',
    level: spec.level,
    ...(spec.reader !== undefined ? { reader: spec.reader } : {}),
  };
  const prov = new HCRYPTPROV(service, context);
  switch (op) {
    case 'open':
      bind(context, await service.select({
        spec, operation: 'open', interaction: new Interaction(context.silent), noCache: context.machine,
        defaultOptional: (f & CRYPT_DEFAULT_CONTAINER_OPTIONAL) !== 0,
      }, operation));
      return prov;
    case 'verify':
      // Null name: no key is needed and no UI may show (MS:CryptAcquireContext); a card is bound when a
      // parameter first needs one (contextCard). A reader: that card, its default container if any.
      if (spec.level !== 4) {
        bind(context, await service.select({
          spec, operation: 'open', interaction: new Interaction(context.silent), noCache: context.machine, defaultOptional: spec.level === 2,
        }, operation));
      }
      return prov;
    case 'create':
      bind(context, await service.select({ spec, operation: 'create', interaction: new Interaction(context.silent), noCache: context.machine }, operation,
        ({ card, createName }) => createContainer(prov, card, createName!, operation)));
      return prov;
    case 'delete':
      await service.select({ spec, operation: 'delete', interaction: new Interaction(context.silent), noCache: context.machine }, operation,
        ({ card, container: found }) => deleteContainer(prov, card, found!, operation));
      prov.released = true; // A6: no usable handle comes out of a delete
      return null;
  }
}

function bind(context: ContextState, found: { card: SmartCard; container?: CardContainer }): void {
  context.card = found.card;
  if (found.container) context.container = found.container;
}

/** Reports a removed card to the service (its state and PINs go), then rethrows. */
async function reporting<T>(service: SmartCardService, card: SmartCard, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    await service.cardFailed(card, err);
    throw err;
  }
}

/**
 * CRYPT_NEWKEYSET on the card selection chose: an empty container (A3), written authenticated. Never
 * silent unless the PIN is cached (the architecture's creation rule): NTE_SILENT_CONTEXT before
 * anything is written.
 */
function createContainer(prov: HCRYPTPROV, card: SmartCard, name: string, operation: string): Promise<{ card: SmartCard; container: CardContainer }> {
  return reporting(prov.service, card, async () => {
    const ctx = { ...authenticationContext(prov, card, operation), container: name };
    assertCreateAllowed(ctx);
    const container = await withAuthentication(ctx, () => card.addContainer(name));
    return { card, container };
  });
}

/** CRYPT_DELETEKEYSET: the container and its keys go from the card, authenticated. */
function deleteContainer(prov: HCRYPTPROV, card: SmartCard, found: CardContainer, operation: string): Promise<void> {
  return reporting(prov.service, card, async () => {
    card.assertWritable(operation, 'its containers cannot be deleted', found.name);
    const ctx = { ...authenticationContext(prov, card, operation), container: found.name };
    await withAuthentication(ctx, async () => {
      // Found again on the card itself: another process may have moved or deleted it meanwhile.
      const current = await card.findContainer(found.name, true);
      if (!current) throw new CryptError('NTE_BAD_KEYSET', `the container "${found.name}" is no longer on the card; nothing to delete`, { operation, container: found.name });
      await card.deleteContainer(current.index);
    });
  });
}

/**
 * The card of a context, binding one when the context has none yet: a CRYPT_VERIFYCONTEXT context
 * acquired with a null name takes the first card present (cards this process uses first), without a
 * UI, and keeps it. `reader` binds the card in that reader instead (PP_SMARTCARD_READER).
 * SCARD_E_NO_SMARTCARD when there is no card to bind.
 */
export async function contextCard(prov: HCRYPTPROV, operation: string, reader?: string): Promise<SmartCard> {
  const { context } = prov;
  if (context.card) return context.card;
  const spec: ContainerSpec = reader === undefined ? { level: 4 } : { level: 2, reader };
  try {
    const { card } = await prov.service.select({ spec, operation: 'open', interaction: new Interaction(true), noCache: context.machine, defaultOptional: true }, operation);
    context.card ??= card; // two parameters asked at once: the first binding stays
    return context.card;
  } catch (err) {
    if (err instanceof CryptError && err.codeName === 'NTE_SILENT_CONTEXT') {
      const where = reader === undefined ? 'no card is present' : `there is no card in "${reader}"`;
      throw new CryptError('SCARD_E_NO_SMARTCARD', `this context (CRYPT_VERIFYCONTEXT, no container name) needs a card now, but ${where}; insert one`, { operation });
    }
    throw err;
  }
}

/**
 * CryptReleaseContext. The context's keys and hashes die with it (C1): session keys are wiped now.
 * Non-zero flags are NTE_BAD_FLAGS, but the context is released first anyway (R1); a second release,
 * or anything that is not a live HCRYPTPROV, is ERROR_INVALID_PARAMETER.
 */
export async function CryptReleaseContext(hProv: HCRYPTPROV, flags = 0): Promise<void> {
  const operation = 'CryptReleaseContext';
  const prov = useHandle(hProv, 'prov', operation);
  prov.released = true;
  for (const child of prov.children) {
    if (child instanceof HCRYPTKEY && child.key.kind === 'session') {
      try {
        child.key.session.destroy();
      } catch {
        // already destroyed (CryptDestroyKey): nothing left to wipe
      }
    }
  }
  prov.children.clear();
  const { context } = prov;
  delete context.enumContainers;
  delete context.enumAlgs;
  delete context.enumAlgsEx;
  if (flags !== 0) {
    throw new CryptError('NTE_BAD_FLAGS', `CryptReleaseContext takes dwFlags 0, not ${String(flags)}; the context was released anyway, do not release it again`, { operation });
  }
}

const randomBytesAsync = promisify(randomBytes);

/** CryptGenRandom: `length` random bytes from the system generator (node:crypto), as the Base CSP uses the system's. */
export async function CryptGenRandom(hProv: HCRYPTPROV, length: number): Promise<Buffer> {
  const operation = 'CryptGenRandom';
  useHandle(hProv, 'prov', operation);
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > 0xffffffff) {
    throw new CryptError('ERROR_INVALID_PARAMETER', `dwLen must be a byte count (a DWORD), not ${String(length)}`, { operation });
  }
  if (length > MAX_RANDOM_LENGTH) throw new CryptError('NTE_NO_MEMORY', `${length} random bytes cannot be held in one buffer; ask for at most ${MAX_RANDOM_LENGTH} per call`, { operation });
  return randomBytesAsync(length);
}
