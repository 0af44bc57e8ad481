/**
 * The CNG suites' fixture: the suite's cards (../smartcard/card-fixture.ts), a provider handle, and keys
 * made the way an application makes them (NCryptCreatePersistedKey + NCryptFinalizeKey).
 *
 * Call `kspFixture(prefix)` inside the test file's top-level describe (see cardFixture for why).
 */
import { NCryptCreatePersistedKey, NCryptFinalizeKey } from '../../ksp/keys.js';
import { NCryptFreeObject, NCryptOpenStorageProvider } from '../../ksp/provider.js';
import { NCryptSetProperty } from '../../ksp/properties.js';
import { NCRYPT_LENGTH_PROPERTY } from '../../ksp/constants.js';
import type { NCryptKeyHandle, NCryptProvHandle } from '../../ksp/handles.js';
import { type CardFixture, cardFixture } from '../smartcard/card-fixture.js';

export interface KspFixture extends CardFixture {
  /** Opened in the fixture's `before` hook. */
  prov: NCryptProvHandle;
  /** A new key on the card, created and finalized silently (the PIN must be cached; see login). */
  newKey(algId: string, options?: { name?: string; bits?: number; legacyKeySpec?: number }): Promise<NCryptKeyHandle>;
}

let suiteCounter = 0;

export function kspFixture(prefix: string, tokenCount = 1): KspFixture {
  const fixture = cardFixture(prefix, tokenCount, {
    async ready() {
      ksp.prov = await NCryptOpenStorageProvider(null);
    },
    async done() {
      if (ksp.prov && !ksp.prov.freed) await NCryptFreeObject(ksp.prov);
    },
  });
  const ksp = Object.assign(fixture, {
    prov: undefined as unknown as NCryptProvHandle,
    async newKey(algId: string, options: { name?: string; bits?: number; legacyKeySpec?: number } = {}) {
      const key = await NCryptCreatePersistedKey(ksp.prov, algId, options.name ?? `k${++suiteCounter}-${Date.now().toString(36)}`, options.legacyKeySpec ?? 0, 0x40 /* NCRYPT_SILENT_FLAG */);
      if (options.bits !== undefined) await NCryptSetProperty(key, NCRYPT_LENGTH_PROPERTY, options.bits);
      await NCryptFinalizeKey(key, 0x40);
      return key;
    },
  }) as KspFixture;
  return ksp;
}
