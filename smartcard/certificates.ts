/**
 * Certificates as both front ends hand them out: a container's certificate checked before it is
 * written (well-formed X.509 whose public key is the container key's), every user certificate of a
 * card with the container and key spec it belongs to (PP_USER_CERTSTORE, NCRYPT_USER_CERTSTORE_PROPERTY),
 * and the PKCS#7 certificate bag the card's root store (msroots) and the CNG store properties use.
 */
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { containerKeySpecs } from '../minidriver/codecs/index.js';
import { CryptError } from '../minidriver/errors.js';
import { x509 } from '../minidriver/x509.js';
import type { SmartCard } from './card.js';

export interface CardCertificate {
  container: string;
  /** The minidriver key spec of the key it certifies (AT_KEYEXCHANGE, AT_SIGNATURE, AT_ECDSA_*...). */
  keySpec: number;
  der: Buffer;
}

/** Parses DER X.509; NTE_BAD_DATA when it is not a certificate. */
export function parseCertificate(der: Uint8Array, operation: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(Buffer.from(der));
  } catch (err) {
    throw new CryptError('NTE_BAD_DATA', `the data is not a DER X.509 certificate (${(err as Error).message}); pass the certificate's DER bytes`, { operation });
  }
}

/**
 * A certificate for a container key must certify that key: a certificate of another key on the card
 * would make every later signature fail to verify against it. NTE_BAD_PUBLIC_KEY otherwise.
 */
export function assertCertifies(der: Uint8Array, publicKey: KeyObject, operation: string): void {
  const cert = parseCertificate(der, operation);
  let certKey: KeyObject;
  try {
    certKey = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
  } catch {
    throw new CryptError('NTE_BAD_DATA', 'the certificate carries a public key this library cannot read (RSA and EC P-256/384/521 only)', { operation });
  }
  if (!certKey.equals(publicKey)) {
    throw new CryptError('NTE_BAD_PUBLIC_KEY', "the certificate is for another key: its public key is not this container key's; use the certificate issued for this key", { operation });
  }
}

/** Every certificate stored for a container key of the card, in container order. */
export async function userCertificates(card: SmartCard, noCache = false): Promise<CardCertificate[]> {
  const out: CardCertificate[] = [];
  for (const container of await card.containers(noCache)) {
    const info = await card.containerInfo(container.index, noCache);
    for (const keySpec of containerKeySpecs(info)) {
      const der = await card.readCertificate(container.index, keySpec, noCache);
      if (der) out.push({ container: container.name, keySpec, der });
    }
  }
  return out;
}

/** A PKCS#7 SignedData certificate bag (what Windows serialises a certificate store to). */
export function encodeCertificateBag(ders: readonly Uint8Array[]): Buffer {
  return Buffer.from(new x509.X509Certificates(ders.map((d) => new x509.X509Certificate(Buffer.from(d)))).export('raw'));
}

/** The certificates of a PKCS#7 bag; NTE_BAD_DATA when it is not one. */
export function decodeCertificateBag(bytes: Uint8Array, operation: string): Buffer[] {
  try {
    return Array.from(new x509.X509Certificates(Buffer.from(bytes)), (c) => Buffer.from(c.rawData));
  } catch (err) {
    throw new CryptError('NTE_BAD_DATA', `the data is not a PKCS#7 certificate bag (${(err as Error).message}); pass a DER SignedData holding the certificates`, { operation });
  }
}
