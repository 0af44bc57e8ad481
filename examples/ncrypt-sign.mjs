// The shape of Windows' "Signing Data with CNG" sample, on a smart card or HSM through p11-ksp:
// open the Smart Card KSP, find the key or create it (silently: the PIN comes from a file, never a
// prompt), sign a SHA-256 hash, verify the signature under the exported public key, print the
// key's certificate.
//
//   node examples/ncrypt-sign.mjs <container name> <PIN file>
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  AT_SIGNATURE, BCRYPT_RSA_ALGORITHM, BCRYPT_RSAPUBLIC_BLOB, BCRYPT_SHA256_ALGORITHM, CryptError,
  MS_SMART_CARD_KEY_STORAGE_PROVIDER, NCRYPT_CERTIFICATE_PROPERTY, NCRYPT_LENGTH_PROPERTY, NCRYPT_PAD_PKCS1_FLAG,
  NCRYPT_PIN_PROPERTY, NCRYPT_READER_PROPERTY, NCRYPT_SILENT_FLAG, NCryptCreatePersistedKey, NCryptExportKey,
  NCryptFinalizeKey, NCryptFreeObject, NCryptGetProperty, NCryptImportKey, NCryptOpenKey, NCryptOpenStorageProvider,
  NCryptSetProperty, NCryptSignHash, NCryptVerifySignature, setDefaultSmartCardService,
} from 'p11-ksp';

const [name, pinFile] = process.argv.slice(2);
if (!name || !pinFile) {
  console.error('usage: node examples/ncrypt-sign.mjs <container name> <PIN file>');
  process.exit(2);
}

const provider = await NCryptOpenStorageProvider(MS_SMART_CARD_KEY_STORAGE_PROVIDER);
try {
  // The PIN goes to the provider handle; p11-ksp verifies it with the card that ends up used.
  await NCryptSetProperty(provider, NCRYPT_PIN_PROPERTY, readFileSync(pinFile, 'utf8').split('\n')[0]);

  let key;
  try {
    key = await NCryptOpenKey(provider, name, AT_SIGNATURE, NCRYPT_SILENT_FLAG);
    console.log(`found "${name}"`);
  } catch (err) {
    if (!(err instanceof CryptError) || err.codeName !== 'NTE_BAD_KEYSET') throw err;
    key = await NCryptCreatePersistedKey(provider, BCRYPT_RSA_ALGORITHM, name, AT_SIGNATURE, NCRYPT_SILENT_FLAG);
    await NCryptSetProperty(key, NCRYPT_LENGTH_PROPERTY, 2048);
    await NCryptFinalizeKey(key, NCRYPT_SILENT_FLAG);
    console.log(`created "${name}"`);
  }
  console.log(`reader: ${await NCryptGetProperty(key, NCRYPT_READER_PROPERTY)}`);

  const hash = createHash('sha256').update('The quick brown fox jumps over the lazy dog').digest();
  const padding = { pszAlgId: BCRYPT_SHA256_ALGORITHM };
  const signature = await NCryptSignHash(key, padding, hash, NCRYPT_PAD_PKCS1_FLAG | NCRYPT_SILENT_FLAG);
  console.log(`signature (${signature.length} bytes, big-endian): ${signature.toString('hex').slice(0, 32)}…`);

  // Verify as the Windows sample does: export the public key blob, import it, verify with it.
  const blob = await NCryptExportKey(key, null, BCRYPT_RSAPUBLIC_BLOB, null);
  const publicKey = await NCryptImportKey(provider, null, BCRYPT_RSAPUBLIC_BLOB, null, blob);
  await NCryptVerifySignature(publicKey, padding, hash, signature, NCRYPT_PAD_PKCS1_FLAG); // throws NTE_BAD_SIGNATURE
  console.log('signature verified');
  await NCryptFreeObject(publicKey);

  try {
    const certificate = new X509Certificate(await NCryptGetProperty(key, NCRYPT_CERTIFICATE_PROPERTY));
    console.log(`certificate: ${certificate.subject}, issued by ${certificate.issuer}, valid until ${certificate.validTo}`);
  } catch (err) {
    if (!(err instanceof CryptError) || err.codeName !== 'NTE_NOT_FOUND') throw err;
    console.log('certificate: none stored for this key (set NCRYPT_CERTIFICATE_PROPERTY to store one)');
  }
  await NCryptFreeObject(key);
} finally {
  await NCryptFreeObject(provider);
  await setDefaultSmartCardService(null); // closes the card sessions so the process can exit
}
