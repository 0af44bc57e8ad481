/**
 * The smart card service one CLI command works through, and the key it names.
 *
 * Without --module the service is the process's default one (the package entry point's wiring: the
 * registered providers, else the embedded store). With --module it serves that one PKCS#11 module's
 * tokens only, as `readers --module` lists them; the module's own configuration (SOFTHSM2_CONF...) is
 * left as the user set it. Either way the global cache and lock files stay in P11KSP_HOME, so what a
 * `--module` command reads is cached for the user's other processes like any other card data.
 *
 * PINs: commands that need one read it (cli/pin-input.ts) only after the key is found, so a wrong name
 * costs no typing, and hand it to the key handle (NCRYPT_PIN_PROPERTY) with NCRYPT_SILENT_FLAG: the
 * CLI asks itself, and the smart-card layer never prompts behind its back.
 */
import { createSmartCardService } from '../default-service.js';
import { NCryptFreeObject, NCryptOpenKey, NCryptOpenStorageProvider, NCryptSetProperty } from '../ksp/index.js';
import { NCRYPT_PIN_PROPERTY, NCRYPT_SILENT_FLAG } from '../ksp/constants.js';
import type { NCryptKeyHandle, NCryptProvHandle } from '../ksp/handles.js';
import { defaultSmartCardService, setDefaultSmartCardService } from '../smartcard/default-service.js';
import type { SmartCardService } from '../smartcard/service.js';
import type { Output } from './output.js';
import { readPin, wipe } from './pin-input.js';

export interface ServiceOptions {
  /** A PKCS#11 module to serve instead of the registered providers / embedded store. */
  module?: string;
}

export interface PinOptions {
  pinFile?: string;
}

/** The registration name a --module command's cards are served by (shown by `cards`). */
export const COMMAND_LINE_REGISTRATION = 'command-line --module';

/** Opens the service for this command; close() lets go of it (modules finalised, cache closed). */
export async function openService(options: ServiceOptions, out: Output): Promise<{ service: SmartCardService; close: () => Promise<void> }> {
  if (options.module) {
    const service = await createSmartCardService({
      registrations: [{
        name: COMMAND_LINE_REGISTRATION, kind: 'minidriver', module: options.module, match: {},
        installedAt: new Date(0).toISOString(), installSequence: 0, priority: 0,
      }],
      warn: (m) => out.note(m),
    });
    await setDefaultSmartCardService(service);
  }
  const service = await defaultSmartCardService();
  return { service, close: () => setDefaultSmartCardService(null) };
}

/** The provider handle over the command's service; run `work`, then free and close everything. */
export async function withProvider<T>(options: ServiceOptions, out: Output, work: (hProv: NCryptProvHandle, service: SmartCardService) => Promise<T>): Promise<T> {
  const { service, close } = await openService(options, out);
  try {
    const hProv = await NCryptOpenStorageProvider(null);
    try {
      return await work(hProv, service);
    } finally {
      await NCryptFreeObject(hProv);
    }
  } finally {
    await close();
  }
}

/** The CNG key name for a container, reader-qualified (`\\.\<reader>\<name>`) when --reader is given. */
export function keyName(container: string, reader?: string): string {
  return reader ? `\\\\.\\${reader}\\${container}` : container;
}

/** Opens a card key silently (public data only: no PIN needed); NTE_BAD_KEYSET (exit 6) when missing. */
export function openKey(hProv: NCryptProvHandle, container: string, reader: string | undefined, legacyKeySpec = 0): Promise<NCryptKeyHandle> {
  return NCryptOpenKey(hProv, keyName(container, reader), legacyKeySpec, NCRYPT_SILENT_FLAG);
}

/**
 * Reads the user PIN (--pin-file, else the hidden prompt; without a terminal a usage error, exit 2) and
 * gives it to a key handle, which verifies it on the card for an opened key (wrong PIN: exit 3) or
 * keeps it for NCryptFinalizeKey on a pending one. The bytes are wiped at once.
 */
export async function givePin(hKey: NCryptKeyHandle, options: PinOptions, reader: string | undefined, out: Output): Promise<void> {
  const what = reader ? `user PIN of the card in "${reader}"` : 'user PIN of the card';
  const pin = await readPin({ file: options.pinFile, what, option: '--pin-file' }, (m) => out.note(m));
  try {
    await NCryptSetProperty(hKey, NCRYPT_PIN_PROPERTY, pin, NCRYPT_SILENT_FLAG);
  } finally {
    wipe(pin);
  }
}
