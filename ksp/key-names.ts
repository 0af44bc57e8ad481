/**
 * Key names on the smart card KSP are container names (reference §3.11): plain (`box`), reader-
 * qualified (`\\.\<reader>\box`), a reader alone (`\\.\<reader>\`, that card's default container),
 * or null (the default container of any card). smartcard/container-spec.ts parses them; here CNG's
 * own limits and codes apply on top.
 */
import { CryptError } from '../minidriver/errors.js';
import { type ContainerSpec, parseContainerSpec } from '../smartcard/container-spec.js';
import { NCRYPT_MAX_KEY_NAME_LENGTH } from './constants.js';

/**
 * A key name as a container specification. CNG callers get NTE_INVALID_PARAMETER for a name the card
 * cannot hold (the CSP's NTE_BAD_KEYSET_PARAM is CryptoAPI's code for the same fault).
 */
export function keySpecOf(keyName: string | null | undefined, operation: string): ContainerSpec {
  if (typeof keyName === 'string' && keyName.length > NCRYPT_MAX_KEY_NAME_LENGTH) {
    throw new CryptError('NTE_INVALID_PARAMETER', `the key name is ${keyName.length} characters; CNG key names have at most ${NCRYPT_MAX_KEY_NAME_LENGTH}`, { operation });
  }
  try {
    return parseContainerSpec(keyName, operation);
  } catch (err) {
    if (err instanceof CryptError && err.codeName === 'NTE_BAD_KEYSET_PARAM') throw new CryptError('NTE_INVALID_PARAMETER', err.message, { operation });
    throw err;
  }
}
