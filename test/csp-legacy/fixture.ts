/**
 * The CryptoAPI suites' fixture: the suite's cards (../smartcard/card-fixture.ts, PINs cached at the
 * start) and contexts acquired the way an application acquires them.
 *
 * Call `cspFixture(prefix, tokenCount)` inside the test file's top-level describe (see cardFixture for
 * why). Besides the card fixture's members it offers:
 *
 *   acquire(container, flags?)    CryptAcquireContext(container, MS_SCARD_PROV, PROV_RSA_FULL, flags):
 *                                 a live context (use CryptAcquireContext itself for CRYPT_DELETEKEYSET).
 *   newContainer(name?, label?)   a new, empty container (CRYPT_NEWKEYSET | CRYPT_SILENT: the PIN must be
 *                                 cached, as the fixture's login leaves it), reader-qualified when a
 *                                 token label is given (else on any card); its context.
 *   qualified(name, label?)       `\\.\<reader of the token>\<name>` ('' for the reader alone).
 *   onCard(name, label?)          the container as the card's map holds it now (read from the card).
 *   uniqueName()                  a container name no test used yet.
 *
 * Contexts made by acquire / newContainer and still live are released when the suite ends.
 */
import { CryptAcquireContext, CryptReleaseContext } from '../../csp-legacy/context.js';
import { CRYPT_NEWKEYSET, CRYPT_SILENT, MS_SCARD_PROV, PROV_RSA_FULL } from '../../csp-legacy/constants.js';
import type { HCRYPTPROV } from '../../csp-legacy/handles.js';
import type { CardContainer } from '../../smartcard/card.js';
import { type CardFixture, cardFixture } from '../smartcard/card-fixture.js';

export interface CspFixture extends CardFixture {
  acquire(container: string | null, flags?: number): Promise<HCRYPTPROV>;
  newContainer(name?: string, label?: string): Promise<HCRYPTPROV>;
  qualified(name: string, label?: string): Promise<string>;
  onCard(name: string, label?: string): Promise<CardContainer | undefined>;
  uniqueName(): string;
}

let counter = 0;

export function cspFixture(prefix: string, tokenCount = 1): CspFixture {
  const contexts: HCRYPTPROV[] = [];
  const fixture = cardFixture(prefix, tokenCount, {
    async done() {
      for (const prov of contexts) if (!prov.released) await CryptReleaseContext(prov).catch(() => undefined);
    },
  });
  const csp: CspFixture = Object.assign(fixture, {
    async acquire(container: string | null, flags = 0) {
      const prov = await CryptAcquireContext(container, MS_SCARD_PROV, PROV_RSA_FULL, flags);
      if (!prov) throw new Error('CryptAcquireContext gave no context (CRYPT_DELETEKEYSET?): call it directly for deletes');
      contexts.push(prov);
      return prov;
    },
    async newContainer(name = csp.uniqueName(), label?: string) {
      return csp.acquire(label === undefined ? name : await csp.qualified(name, label), CRYPT_NEWKEYSET | CRYPT_SILENT);
    },
    async qualified(name: string, label?: string) {
      return `\\\\.\\${await fixture.readerOf(label)}\\${name}`;
    },
    async onCard(name: string, label?: string) {
      return (await (await fixture.card(label)).containers(true)).find((c) => c.name === name);
    },
    uniqueName() {
      return `c${++counter}-${Date.now().toString(36)}`;
    },
  });
  return csp;
}
