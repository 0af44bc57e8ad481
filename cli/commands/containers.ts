/**
 * `p11-ksp containers list|create|delete`: the key containers of the cards present, through the CNG
 * front end as a Windows tool would (NCryptEnumKeys, NCryptOpenKey, NCryptCreatePersistedKey +
 * NCryptFinalizeKey, NCryptDeleteKey).
 *
 * Listing needs no PIN (public key information only). Creating and deleting do: the PIN is read after
 * the name is checked, so `create` of a taken name (exit 8) and `delete` of a missing one (exit 6)
 * never ask for it.
 */
import { NCryptCreatePersistedKey, NCryptDeleteKey, NCryptEnumKeys, NCryptFinalizeKey, NCryptFreeObject, NCryptGetProperty, NCryptSetProperty } from '../../ksp/index.js';
import {
  NCRYPT_CERTIFICATE_PROPERTY, NCRYPT_LENGTH_PROPERTY, NCRYPT_OVERWRITE_KEY_FLAG, NCRYPT_READER_PROPERTY, NCRYPT_SILENT_FLAG,
} from '../../ksp/constants.js';
import type { NCryptKeyHandle, NCryptProvHandle } from '../../ksp/handles.js';
import { AT_KEYEXCHANGE, AT_SIGNATURE } from '../../minidriver/constants.js';
import { CryptError } from '../../minidriver/errors.js';
import type { SmartCardService } from '../../smartcard/service.js';
import { givePin, keyName, openKey, type PinOptions, type ServiceOptions, withProvider } from '../card-service.js';
import { UsageError } from '../exit-codes.js';
import type { ContainerJson, ContainerKeyJson, ContainersDocument, KeySpecName } from '../json-schema.js';
import { formatMs, type Output } from '../output.js';

export interface ContainersListOptions extends ServiceOptions {
  reader?: string;
  json?: boolean;
}

export interface ContainersCreateOptions extends ServiceOptions, PinOptions {
  algorithm?: string;
  bits?: number;
  keySpec?: string;
  reader?: string;
  overwrite?: boolean;
}

export interface ContainersDeleteOptions extends ServiceOptions, PinOptions {
  reader?: string;
}

/** dwLegacyKeySpec ↔ the CLI's key-spec words (ECC keys have no legacy key spec). */
const KEY_SPEC_NAMES: ReadonlyMap<number, KeySpecName> = new Map([
  [AT_KEYEXCHANGE, 'exchange'],
  [AT_SIGNATURE, 'signature'],
  [0, 'none'],
]);

export function keySpecName(legacyKeySpec: number): KeySpecName {
  return KEY_SPEC_NAMES.get(legacyKeySpec) ?? 'none';
}

/** The CNG algorithms `containers create --algorithm` takes. */
export const CREATE_ALGORITHMS = ['RSA', 'ECDSA_P256', 'ECDSA_P384', 'ECDSA_P521', 'ECDH_P256', 'ECDH_P384', 'ECDH_P521'] as const;
const RSA_DEFAULT_BITS = 2048;
/** After this long without an answer, a generation note says it is still working. */
const PROGRESS_EVERY_MS = 3000;

async function hasCertificate(hKey: NCryptKeyHandle): Promise<boolean> {
  try {
    await NCryptGetProperty(hKey, NCRYPT_CERTIFICATE_PROPERTY, NCRYPT_SILENT_FLAG);
    return true;
  } catch (err) {
    if (err instanceof CryptError && err.codeName === 'NTE_NOT_FOUND') return false;
    throw err;
  }
}

/** Every container of every card present (or of one reader), keys grouped by container. */
export async function listContainers(hProv: NCryptProvHandle, service: SmartCardService, reader: string | undefined): Promise<ContainerJson[]> {
  const entries = (await service.snapshot()).filter((e) => e.card && (reader === undefined || e.szReader === reader));
  if (reader !== undefined && entries.length === 0) {
    const known = (await service.snapshot()).some((e) => e.szReader === reader);
    throw new CryptError(known ? 'SCARD_E_NO_SMARTCARD' : 'SCARD_E_UNKNOWN_READER', known ? `no card served in "${reader}"; insert one` : `no reader named "${reader}"; \`p11-ksp readers\` lists them`, { operation: 'p11-ksp containers list' });
  }
  const containers: ContainerJson[] = [];
  for (const entry of entries) {
    const defaultName = (await (await service.cardIn(entry)).defaultContainer(true))?.name;
    const byName = new Map<string, ContainerJson>();
    for (const k of await NCryptEnumKeys(hProv, `\\\\.\\${entry.szReader}\\`, NCRYPT_SILENT_FLAG)) {
      let c = byName.get(k.pszName);
      if (!c) {
        c = { reader: entry.szReader, name: k.pszName, isDefault: k.pszName === defaultName, keys: [] };
        byName.set(k.pszName, c);
      }
      const hKey = await openKey(hProv, k.pszName, entry.szReader, k.dwLegacyKeySpec);
      try {
        const key: ContainerKeyJson = {
          keySpec: keySpecName(k.dwLegacyKeySpec), algorithm: k.pszAlgid,
          bits: await NCryptGetProperty(hKey, NCRYPT_LENGTH_PROPERTY, NCRYPT_SILENT_FLAG) as number,
          hasCertificate: await hasCertificate(hKey),
        };
        c.keys.push(key);
      } finally {
        await NCryptFreeObject(hKey);
      }
    }
    containers.push(...byName.values());
  }
  return containers;
}

export async function containersListCommand(options: ContainersListOptions, out: Output): Promise<void> {
  const containers = await withProvider(options, out, (hProv, service) => listContainers(hProv, service, options.reader));
  if (options.json) {
    const doc: ContainersDocument = { schema: 'p11-ksp/containers/v1', containers };
    out.document(doc);
    return;
  }
  if (containers.length === 0) out.line('No containers.');
  let reader: string | undefined;
  for (const c of containers) {
    if (c.reader !== reader) {
      reader = c.reader;
      out.line(`Reader: ${reader}`);
    }
    out.line(`  ${c.isDefault ? '*' : ' '} ${c.name}`);
    for (const k of c.keys) out.line(`      ${k.keySpec.padEnd(9)} ${k.algorithm} ${k.bits} bits${k.hasCertificate ? ', certificate' : ''}`);
  }
  if (containers.some((c) => c.isDefault)) out.line('(* the card\'s default container)');
}

function legacyKeySpecOf(word: string | undefined): number {
  if (word === undefined || word === 'exchange') return AT_KEYEXCHANGE;
  if (word === 'signature') return AT_SIGNATURE;
  throw new UsageError(`--key-spec is "exchange" or "signature"`);
}

function algorithmOf(options: ContainersCreateOptions): string {
  const algorithm = (options.algorithm ?? 'RSA').toUpperCase();
  if (!(CREATE_ALGORITHMS as readonly string[]).includes(algorithm)) throw new UsageError(`--algorithm is one of ${CREATE_ALGORITHMS.join(', ')}`);
  if (algorithm !== 'RSA' && options.bits !== undefined) throw new UsageError(`--bits is for RSA; the size of ${algorithm} comes from its curve`);
  if (algorithm !== 'RSA' && options.keySpec !== undefined) throw new UsageError(`--key-spec is for RSA; ${algorithm} keys have no legacy key spec`);
  return algorithm;
}

/** Notes on stderr while a generation runs, so a 4096-bit RSA key on a slow card does not look hung. */
function progress(out: Output, what: string): () => void {
  const started = performance.now();
  out.note(`${what}...`);
  const timer = setInterval(() => out.note(`${what}: still working (${formatMs(performance.now() - started)})`), PROGRESS_EVERY_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    out.note(`${what}: done in ${formatMs(performance.now() - started)}`);
  };
}

export async function containersCreateCommand(name: string, options: ContainersCreateOptions, out: Output): Promise<void> {
  const algorithm = algorithmOf(options);
  const legacyKeySpec = legacyKeySpecOf(options.keySpec);
  const flags = NCRYPT_SILENT_FLAG | (options.overwrite ? NCRYPT_OVERWRITE_KEY_FLAG : 0);
  const made = await withProvider(options, out, async (hProv) => {
    // NTE_EXISTS (exit 8) comes here, before any PIN is asked.
    const hKey = await NCryptCreatePersistedKey(hProv, algorithm, keyName(name, options.reader), algorithm === 'RSA' ? legacyKeySpec : 0, flags);
    try {
      if (algorithm === 'RSA') await NCryptSetProperty(hKey, NCRYPT_LENGTH_PROPERTY, options.bits ?? RSA_DEFAULT_BITS, NCRYPT_SILENT_FLAG);
      await givePin(hKey, options, options.reader, out);
      const bits = algorithm === 'RSA' ? options.bits ?? RSA_DEFAULT_BITS : undefined;
      const done = progress(out, `generating ${algorithm}${bits ? ` ${bits}-bit` : ''} key "${name}" on the card`);
      await NCryptFinalizeKey(hKey, NCRYPT_SILENT_FLAG);
      done();
      return { reader: await NCryptGetProperty(hKey, NCRYPT_READER_PROPERTY) as string, bits: await NCryptGetProperty(hKey, NCRYPT_LENGTH_PROPERTY) as number };
    } finally {
      await NCryptFreeObject(hKey);
    }
  });
  const spec = algorithm === 'RSA' ? keySpecName(legacyKeySpec) : 'none';
  out.line(`Created container "${name}" in "${made.reader}": ${algorithm} ${made.bits} bits, key spec ${spec}`);
}

export async function containersDeleteCommand(name: string, options: ContainersDeleteOptions, out: Output): Promise<void> {
  const reader = await withProvider(options, out, async (hProv) => {
    const hKey = await openKey(hProv, name, options.reader); // NTE_BAD_KEYSET (exit 6) before any PIN
    try {
      const where = await NCryptGetProperty(hKey, NCRYPT_READER_PROPERTY) as string;
      await givePin(hKey, options, where, out);
      await NCryptDeleteKey(hKey, NCRYPT_SILENT_FLAG); // frees the handle
      return where;
    } catch (err) {
      await NCryptFreeObject(hKey).catch(() => undefined);
      throw err;
    }
  });
  out.line(`Deleted container "${name}" from "${reader}"`);
}
