import { randomUUID } from 'node:crypto';
import {
  CARD_CREATE_CONTAINER_KEY_GEN, CARD_CREATE_CONTAINER_KEY_IMPORT, CONTAINER_MAP_VALID_CONTAINER,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { buildContainerInfo, type ContainerKeyDescription, eccPointFromUncompressed, encodeCmapFile } from '../minidriver/codecs/index.js';
import type { ContainerInfo } from '../minidriver/structures.js';
import { type CardContextCore, checkContainerIndex, checkFlags, containerName, keySpecInfo } from './context-core.js';
import { keySizesFor } from './context-properties.js';
import type { KeyPair } from './key-pairs.js';
import { destroyKeyPair, generateKeyPair, importKeyPair, newKeyId } from './key-generation.js';

function describe(pair: KeyPair | undefined): ContainerKeyDescription | null {
  if (!pair) return null;
  if (pair.kind === 'RSA') return { kind: 'RSA', modulus: pair.modulus!, publicExponent: pair.publicExponent! };
  if (!pair.point) return null; // a private key with no public object: its point is not readable
  const { x, y } = eccPointFromUncompressed(pair.point, pair.curve!.name);
  return { kind: 'EC', curve: pair.curve!.name, x, y };
}

export async function cardGetContainerInfo(ctx: CardContextCore, index: number, flags?: number): Promise<ContainerInfo> {
  const operation = 'CardGetContainerInfo';
  ctx.assertOpen(operation);
  checkFlags(flags, 0, operation);
  return ctx.token.sync(operation, (s) => {
    ctx.state.reconcile(s); // the keys on the token are the truth: another process may have changed them
    containerName(ctx, s, index, operation);
    const keys = ctx.state.containers.get(index);
    return buildContainerInfo({ signature: describe(keys?.sig), keyExchange: describe(keys?.keyx) });
  });
}

/** Write operations need a writable card and the user's PIN (cmapfile and keys are user-writable). */
export function requireUserWrite(ctx: CardContextCore, operation: string, container?: string): void {
  if (ctx.state.readOnly) throw new CryptError('SCARD_E_UNSUPPORTED_FEATURE', 'the card is read-only', { operation, card: ctx.state.name, container });
  if (ctx.token.login !== 'user') throw new CryptError('SCARD_W_SECURITY_VIOLATION', 'this needs the user PIN: call CardAuthenticatePin first', { operation, card: ctx.state.name, container });
}

/**
 * CardCreateContainer(Ex): generates (KEY_GEN) or imports (KEY_IMPORT) the key of one slot. The
 * container's name comes from its cmapfile record, which the CSP writes first; a missing record is
 * created with a fresh GUID name. A key already in that slot is replaced.
 */
export async function cardCreateContainer(ctx: CardContextCore, index: number, flags: number, keySpec: number, keySize: number, keyData: Uint8Array | null | undefined): Promise<void> {
  const operation = 'CardCreateContainer';
  ctx.assertOpen(operation);
  checkContainerIndex(index, operation);
  if (flags !== CARD_CREATE_CONTAINER_KEY_GEN && flags !== CARD_CREATE_CONTAINER_KEY_IMPORT) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', 'dwFlags must be CARD_CREATE_CONTAINER_KEY_GEN or CARD_CREATE_CONTAINER_KEY_IMPORT', { operation });
  }
  const spec = keySpecInfo(keySpec, operation);
  if (index >= ctx.state.maxContainers) throw new CryptError('SCARD_E_INVALID_PARAMETER', `container index ${index} is beyond this card's ${ctx.state.maxContainers} containers`, { operation });
  if (flags === CARD_CREATE_CONTAINER_KEY_IMPORT && !(keyData instanceof Uint8Array)) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', 'key import needs pbKeyData', { operation });
  }
  let bits = keySize;
  if (flags === CARD_CREATE_CONTAINER_KEY_GEN) {
    const sizes = keySizesFor(ctx, keySpec);
    if (bits === 0) bits = sizes.dwDefaultBitlen;
    const offered = bits >= sizes.dwMinimumBitlen && bits <= sizes.dwMaximumBitlen
      && (sizes.dwIncrementalBitlen === 0 ? bits === sizes.dwMinimumBitlen : (bits - sizes.dwMinimumBitlen) % sizes.dwIncrementalBitlen === 0);
    if (!offered) {
      throw new CryptError('SCARD_E_INVALID_PARAMETER', `key size ${keySize} is not offered for key spec ${keySpec}: ${sizes.dwMinimumBitlen}..${sizes.dwMaximumBitlen} bits in steps of ${sizes.dwIncrementalBitlen || 'none'}`, { operation });
    }
  }
  requireUserWrite(ctx, operation);

  // Nothing is written until the new key exists: a refused key size, a malformed blob or a full card
  // leaves the container map and any key already in the slot as they were.
  const { name, isNew, old } = ctx.token.sync(operation, (s) => {
    ctx.state.reconcile(s);
    const record = ctx.state.records[index];
    const valid = record !== null && record !== undefined && (record.bFlags & CONTAINER_MAP_VALID_CONTAINER) !== 0;
    return { name: valid ? record!.wszGuid : randomUUID(), isNew: !valid, old: ctx.state.containers.get(index)?.[spec.role] };
  });
  const id = newKeyId();
  if (flags === CARD_CREATE_CONTAINER_KEY_GEN) {
    await generateKeyPair(ctx.token, spec, bits, name, id, name);
  } else {
    ctx.token.sync(operation, (s) => {
      try {
        importKeyPair(ctx.token, s, spec, keyData!, name, id);
      } catch (err) {
        destroyKeyPair(ctx.token, s, id); // half an import (private key without public key) must not stay
        throw err;
      }
    }, name);
  }
  ctx.token.sync(operation, (s) => {
    if (old) destroyKeyPair(ctx.token, s, old.id);
    if (isNew) {
      while (ctx.state.records.length < index) ctx.state.records.push(null);
      ctx.state.records[index] = { wszGuid: name, bFlags: CONTAINER_MAP_VALID_CONTAINER, wSigKeySizeBits: 0, wKeyExchangeKeySizeBits: 0 };
      const cmap = ctx.state.files.lookup(s, 'mscp/cmapfile');
      if (cmap) ctx.state.files.write(s, cmap, encodeCmapFile(ctx.state.records));
    }
    ctx.state.reconcile(s);
  }, name);
}

/** CardDeleteContainer: destroys the container's keys and zeroes its cmapfile record. */
export async function cardDeleteContainer(ctx: CardContextCore, index: number, reserved?: number): Promise<void> {
  const operation = 'CardDeleteContainer';
  ctx.assertOpen(operation);
  checkFlags(reserved, 0, operation);
  ctx.token.sync(operation, (s) => {
    const name = containerName(ctx, s, index, operation);
    requireUserWrite(ctx, operation, name);
    const keys = ctx.state.containers.get(index);
    for (const pair of [keys?.sig, keys?.keyx]) if (pair) destroyKeyPair(ctx.token, s, pair.id);
    ctx.state.records[index] = null;
    const cmap = ctx.state.files.lookup(s, 'mscp/cmapfile');
    if (cmap) ctx.state.files.write(s, cmap, encodeCmapFile(ctx.state.records));
    ctx.state.reconcile(s);
  });
}
