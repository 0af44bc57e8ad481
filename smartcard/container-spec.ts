/**
 * Container specification levels, as CryptAcquireContext and NCryptOpenKey take them on smart cards:
 *
 *   I   `\\.\<reader>\<container>`   that container on the card in that reader
 *   II  `\\.\<reader>` or `\\.\<reader>\`   the default container of the card in that reader
 *   III `<container>`                 that container on any card
 *   IV  null (or '')                  a default container on any card
 *
 * Reader names may themselves hold backslashes only in theory (PC/SC names never do; PKCS#11 slot
 * descriptions here never do), so the first backslash after the `\\.\` prefix ends the reader name.
 */
import { MAX_CONTAINER_NAME_LEN } from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';

export type SpecLevel = 1 | 2 | 3 | 4;

export interface ContainerSpec {
  level: SpecLevel;
  /** Levels I and II. */
  reader?: string;
  /** Levels I and III. */
  container?: string;
}

const READER_PREFIX = '\\\\.\\';
/** SCARD_READER_NAME_MAX-ish bound: PC/SC reader names are well under this. */
const MAX_READER_NAME_LEN = 256;

/**
 * Parses a container name. Malformed names — a container name longer than MAX_CONTAINER_NAME_LEN
 * (the cmapfile record holds 39 characters), an empty reader, a NUL — are NTE_BAD_KEYSET_PARAM, the
 * code Windows' CSPs give for a container name they cannot use.
 */
export function parseContainerSpec(name: string | null | undefined, operation: string): ContainerSpec {
  if (name === null || name === undefined || name === '') return { level: 4 };
  if (typeof name !== 'string') throw bad(`the container name must be a string or null, not ${typeof name}`, operation);
  if (name.includes('\0')) throw bad('the container name contains a NUL character', operation);
  if (!name.startsWith(READER_PREFIX)) return { level: 3, container: checkContainer(name, operation) };

  const rest = name.slice(READER_PREFIX.length);
  const slash = rest.indexOf('\\');
  const reader = slash < 0 ? rest : rest.slice(0, slash);
  const container = slash < 0 ? '' : rest.slice(slash + 1);
  if (reader.length === 0) throw bad(`"${name}" names no reader: write \\\\.\\<reader>\\<container>`, operation);
  if (reader.length > MAX_READER_NAME_LEN) throw bad(`the reader name is longer than ${MAX_READER_NAME_LEN} characters`, operation);
  if (container.length === 0) return { level: 2, reader };
  return { level: 1, reader, container: checkContainer(container, operation) };
}

function checkContainer(container: string, operation: string): string {
  if (container.includes('\\')) throw bad(`the container name "${container}" contains a backslash; only \\\\.\\<reader>\\<container> may`, operation);
  if (container.length > MAX_CONTAINER_NAME_LEN) {
    throw bad(`the container name is ${container.length} characters; a card container name has at most ${MAX_CONTAINER_NAME_LEN}`, operation);
  }
  return container;
}

function bad(message: string, operation: string): CryptError {
  return new CryptError('NTE_BAD_KEYSET_PARAM', message, { operation });
}

/** The fully qualified name of a container (PP_UNIQUE_CONTAINER, NCRYPT_UNIQUE_NAME_PROPERTY role). */
export function qualifiedContainerName(reader: string, container: string): string {
  return `${READER_PREFIX}${reader}\\${container}`;
}
