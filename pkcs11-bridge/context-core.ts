import {
  AT_ECDHE_P256, AT_ECDHE_P384, AT_ECDHE_P521, AT_ECDSA_P256, AT_ECDSA_P384, AT_ECDSA_P521, AT_KEYEXCHANGE, AT_SIGNATURE,
  CONTAINER_MAP_VALID_CONTAINER,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import type { CardState } from './card-state.js';
import type { KeyPair, KeyRole } from './key-pairs.js';
import type { Pkcs11Handle } from './pkcs11.js';
import type { Token } from './token.js';

/** What the entry-point modules of a card context share. */
export interface CardContextCore {
  readonly state: CardState;
  readonly token: Token;
  readonly dwVersion: number;
  /** Secret agreements of this context (CardConstructDHAgreement), by index. */
  readonly agreements: Map<number, Buffer>;
  assertOpen(operation: string): void;
}

/** What a key spec asks for: the container slot and, for ECC, the curve size in bits. */
export interface KeySpecInfo {
  role: KeyRole;
  kind: 'RSA' | 'EC';
  curveBits?: number;
}

const KEY_SPECS: Readonly<Record<number, KeySpecInfo>> = {
  [AT_KEYEXCHANGE]: { role: 'keyx', kind: 'RSA' },
  [AT_SIGNATURE]: { role: 'sig', kind: 'RSA' },
  [AT_ECDSA_P256]: { role: 'sig', kind: 'EC', curveBits: 256 },
  [AT_ECDSA_P384]: { role: 'sig', kind: 'EC', curveBits: 384 },
  [AT_ECDSA_P521]: { role: 'sig', kind: 'EC', curveBits: 521 },
  [AT_ECDHE_P256]: { role: 'keyx', kind: 'EC', curveBits: 256 },
  [AT_ECDHE_P384]: { role: 'keyx', kind: 'EC', curveBits: 384 },
  [AT_ECDHE_P521]: { role: 'keyx', kind: 'EC', curveBits: 521 },
};

export function keySpecInfo(keySpec: number, operation: string): KeySpecInfo {
  const info = KEY_SPECS[keySpec];
  if (!info) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `unknown key spec ${keySpec}; use AT_KEYEXCHANGE, AT_SIGNATURE, AT_ECDSA_P256/384/521 or AT_ECDHE_P256/384/521`, { operation });
  }
  return info;
}

/** The key spec a key pair answers to (for error messages and container info). */
export function keySpecOf(pair: KeyPair): number {
  if (pair.kind === 'RSA') return pair.role === 'sig' ? AT_SIGNATURE : AT_KEYEXCHANGE;
  const entry = Object.entries(KEY_SPECS).find(([, v]) => v.kind === 'EC' && v.role === pair.role && v.curveBits === pair.bits);
  return Number(entry?.[0] ?? 0);
}

export function checkContainerIndex(index: number, operation: string): void {
  if (!Number.isInteger(index) || index < 0 || index > 255) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `container index ${index} is out of range 0..255`, { operation });
  }
}

export function checkFlags(flags: number | undefined, allowed: number, operation: string): number {
  const value = flags ?? 0;
  if (!Number.isInteger(value) || (value & ~allowed) !== 0) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `flags 0x${(value >>> 0).toString(16)} are not accepted here (allowed: 0x${allowed.toString(16)})`, { operation });
  }
  return value;
}

/** The container name at an index, or SCARD_E_NO_KEY_CONTAINER. Looks at the token again once. */
export function containerName(ctx: CardContextCore, session: Pkcs11Handle, index: number, operation: string): string {
  checkContainerIndex(index, operation);
  let record = ctx.state.records[index];
  if (!record || !(record.bFlags & CONTAINER_MAP_VALID_CONTAINER)) {
    ctx.state.reconcile(session); // another process may have created it since
    record = ctx.state.records[index];
  }
  if (!record || !(record.bFlags & CONTAINER_MAP_VALID_CONTAINER)) {
    throw new CryptError('SCARD_E_NO_KEY_CONTAINER', `no container at index ${index}`, { operation, card: ctx.state.name });
  }
  return record.wszGuid;
}

/** The key pair in a container slot for a key spec, or SCARD_E_NO_KEY_CONTAINER. */
export function keyPairFor(ctx: CardContextCore, index: number, keySpec: number, operation: string): KeyPair {
  checkContainerIndex(index, operation);
  const spec = keySpecInfo(keySpec, operation);
  let pair = ctx.state.containers.get(index)?.[spec.role];
  if (!pair) {
    ctx.token.sync(operation, (s) => ctx.state.reconcile(s));
    pair = ctx.state.containers.get(index)?.[spec.role];
  }
  const name = ctx.state.records[index]?.wszGuid;
  if (!pair || pair.kind !== spec.kind || (spec.curveBits !== undefined && spec.curveBits !== pair.bits)) {
    throw new CryptError('SCARD_E_NO_KEY_CONTAINER', `container ${index} holds no ${spec.kind} ${spec.role === 'sig' ? 'signature' : 'key-exchange'} key for key spec ${keySpec}`, { operation, card: ctx.state.name, container: name });
  }
  return pair;
}
