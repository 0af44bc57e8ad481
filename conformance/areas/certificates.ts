/**
 * Certificates the destructive cases write for the keys they made: issued by a throw-away CA made in
 * the case (the card key need not sign its own certificate), built with @peculiar/x509.
 */
import { generateKeyPairSync, type KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const CA_ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };

function subjectAlgorithm(key: KeyObject): RsaHashedImportParams | EcKeyImportParams {
  if (key.asymmetricKeyType === 'rsa') return CA_ALGORITHM;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const namedCurve = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }[curve ?? ''];
  if (!namedCurve) throw new Error(`no certificate for a key on curve ${String(curve)}`);
  return { name: 'ECDSA', namedCurve };
}

/** The DER of a certificate for `subjectKey` (a public key), CN as given, valid ten years from now. */
export async function certificateFor(subjectKey: KeyObject, commonName: string): Promise<Buffer> {
  const ca = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const notBefore = new Date();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: Date.now().toString(16),
    subject: `CN=${commonName}`,
    issuer: 'CN=p11-ksp conformance throw-away CA',
    notBefore,
    notAfter: new Date(notBefore.getTime() + 10 * 365 * 24 * 3600 * 1000),
    publicKey: await webcrypto.subtle.importKey('spki', subjectKey.export({ format: 'der', type: 'spki' }), subjectAlgorithm(subjectKey), true, ['verify']),
    signingKey: await webcrypto.subtle.importKey('pkcs8', ca.privateKey.export({ format: 'der', type: 'pkcs8' }), CA_ALGORITHM, false, ['sign']),
    signingAlgorithm: CA_ALGORITHM,
  });
  return Buffer.from(certificate.rawData);
}
