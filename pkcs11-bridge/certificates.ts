import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { CryptError } from '../minidriver/errors.js';
import { pk, type Pkcs11Handle } from './pkcs11.js';
import type { Token } from './token.js';

const A = pk;

/**
 * Certificates live on the token as ordinary CKO_CERTIFICATE objects sharing the key pair's CKA_ID
 * (what every PKCS#11 tool expects), and appear in the card file system as mscp/kscNN / kxcNN.
 */
export function findCertificate(token: Token, session: Pkcs11Handle, id: Buffer): Pkcs11Handle | undefined {
  return token.find(session, [{ type: A.CKA_CLASS, value: A.CKO_CERTIFICATE }, { type: A.CKA_ID, value: id }], 1)[0];
}

export function readCertificate(token: Token, session: Pkcs11Handle, handle: Pkcs11Handle): Buffer {
  return Buffer.from(token.attributes(session, handle, [A.CKA_VALUE])[0]);
}

/** Stores (replacing any previous one) the certificate of a key pair. */
export function storeCertificate(token: Token, session: Pkcs11Handle, id: Buffer, label: string, der: Buffer, operation: string): void {
  let cert: Certificate;
  try {
    cert = AsnConvert.parse(der, Certificate);
  } catch (err) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', 'the certificate file does not hold a DER X.509 certificate', { operation, cause: err });
  }
  const subject = Buffer.from(AsnConvert.serialize(cert.tbsCertificate.subject));
  const issuer = Buffer.from(AsnConvert.serialize(cert.tbsCertificate.issuer));
  const serial = derInteger(Buffer.from(cert.tbsCertificate.serialNumber));
  removeCertificates(token, session, id);
  token.pkcs11.C_CreateObject(session, [
    { type: A.CKA_CLASS, value: A.CKO_CERTIFICATE },
    { type: A.CKA_CERTIFICATE_TYPE, value: A.CKC_X_509 },
    { type: A.CKA_TOKEN, value: true },
    { type: A.CKA_PRIVATE, value: false },
    { type: A.CKA_LABEL, value: label },
    { type: A.CKA_ID, value: id },
    { type: A.CKA_SUBJECT, value: subject },
    { type: A.CKA_ISSUER, value: issuer },
    { type: A.CKA_SERIAL_NUMBER, value: serial },
    { type: A.CKA_VALUE, value: der },
  ]);
}

export function removeCertificates(token: Token, session: Pkcs11Handle, id: Buffer): number {
  const handles = token.find(session, [{ type: A.CKA_CLASS, value: A.CKO_CERTIFICATE }, { type: A.CKA_ID, value: id }]);
  for (const h of handles) token.pkcs11.C_DestroyObject(session, h);
  return handles.length;
}

/** CKA_SERIAL_NUMBER is the DER INTEGER; asn1-x509 gives its content bytes. */
function derInteger(content: Buffer): Buffer {
  const n = content.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([0x02]), length, content]);
}
