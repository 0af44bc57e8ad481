/**
 * What an HCRYPTKEY stands for:
 *  - card: a key pair in a card container slot (AT_KEYEXCHANGE or AT_SIGNATURE); the private half
 *    never leaves the card, the public half is held here;
 *  - public: an RSA public key imported from a PUBLICKEYBLOB (verify, encrypt, SIMPLEBLOB wrapping);
 *  - session: a symmetric key in host memory (AES, 3DES), used with node:crypto.
 */
import type { KeyObject } from 'node:crypto';
import type { CardContainer, SmartCard } from '../smartcard/card.js';
import type { SessionKey } from './session-key.js';

export interface CardKeyPair {
  kind: 'card';
  card: SmartCard;
  container: CardContainer;
  /** AT_KEYEXCHANGE or AT_SIGNATURE: the slot, and the minidriver key spec of the card calls. */
  keySpec: number;
  /** CALG_RSA_KEYX or CALG_RSA_SIGN (KP_ALGID). */
  algId: number;
  bits: number;
  publicKey: KeyObject;
}

export interface PublicKeyOnly {
  kind: 'public';
  /** aiKeyAlg of the imported PUBLICKEYBLOB: CALG_RSA_KEYX or CALG_RSA_SIGN. */
  algId: number;
  bits: number;
  publicKey: KeyObject;
  /** The PUBLICKEYBLOB as imported (header and modulus, trailing bytes dropped): exported back byte for byte (E5). */
  blob?: Buffer;
}

export interface SessionKeyRef {
  kind: 'session';
  session: SessionKey;
}

export type CspKey = CardKeyPair | PublicKeyOnly | SessionKeyRef;
