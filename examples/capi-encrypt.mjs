// The classic smart card encryption walk-through with CryptoAPI, on a smart card or HSM through
// p11-ksp: probe the container silently, create it on NTE_BAD_KEYSET, get the exchange key (making it
// if the container is new), encrypt with it, then the hybrid scheme: an AES-256 session key encrypts
// the data and travels as a SIMPLEBLOB wrapped for the card's key; only the card unwraps it.
//
//   node examples/capi-encrypt.mjs <container name> <PIN file>
//
// Where Windows would show its PIN dialog, p11-ksp asks the registered UI: here one that answers
// with the PIN from the file (an application registers its own dialog the same way).
import { readFileSync } from 'node:fs';
import {
  AT_KEYEXCHANGE, CALG_AES_256, CRYPT_EXPORTABLE, CRYPT_MACHINE_KEYSET, CRYPT_NEWKEYSET, CRYPT_SILENT, CryptAcquireContext,
  CryptDecrypt, CryptDestroyKey, CryptEncrypt, CryptError, CryptExportKey, CryptGenKey, CryptGetUserKey, CryptImportKey,
  CryptReleaseContext, MS_SCARD_PROV, PROV_RSA_FULL, SIMPLEBLOB, setDefaultSmartCardService, setUserInterface,
} from 'p11-ksp';

const [container, pinFile] = process.argv.slice(2);
if (!container || !pinFile) {
  console.error('usage: node examples/capi-encrypt.mjs <container name> <PIN file>');
  process.exit(2);
}
setUserInterface({
  async promptPin() { return readFileSync(pinFile, 'utf8').split('\n')[0]; },
  async selectCard(request) { return request.candidates[0] ?? null; }, // the first card that fits, else cancel
});

let prov;
try {
  // Silent probe: no UI at all; a missing container is NTE_BAD_KEYSET, not a dialog.
  prov = await CryptAcquireContext(container, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT | CRYPT_MACHINE_KEYSET);
  await CryptReleaseContext(prov, 0);
  prov = await CryptAcquireContext(container, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_MACHINE_KEYSET); // reopened, may ask for the PIN
  console.log(`opened "${container}"`);
} catch (err) {
  if (!(err instanceof CryptError) || err.codeName !== 'NTE_BAD_KEYSET') throw err;
  prov = await CryptAcquireContext(container, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET);
  console.log(`created "${container}"`);
}

try {
  let exchangeKey;
  try {
    exchangeKey = await CryptGetUserKey(prov, AT_KEYEXCHANGE);
  } catch (err) {
    if (!(err instanceof CryptError) || err.codeName !== 'NTE_NO_KEY') throw err;
    exchangeKey = await CryptGenKey(prov, AT_KEYEXCHANGE, 2048 << 16); // generated on the card
    console.log('generated an RSA-2048 exchange key on the card');
  }

  // RSA directly: small data only, ciphertext little-endian as CryptoAPI has it.
  const sample = Buffer.from('Here is some sample data!');
  const rsaCiphertext = await CryptEncrypt(exchangeKey, null, true, 0, sample);
  console.log(`RSA ciphertext: ${rsaCiphertext.length} bytes`);
  console.log(`decrypted on the card: "${(await CryptDecrypt(exchangeKey, null, true, 0, rsaCiphertext)).toString()}"`);

  // Hybrid: an exportable AES-256 session key encrypts the data (CBC, PKCS#5 padding, zero IV by
  // default) and is exported wrapped for the card's exchange key.
  const document = Buffer.from('A longer document, encrypted with a session key that only the card can unwrap. '.repeat(4));
  const sessionKey = await CryptGenKey(prov, CALG_AES_256, CRYPT_EXPORTABLE);
  const encrypted = await CryptEncrypt(sessionKey, null, true, 0, document);
  const simpleBlob = await CryptExportKey(sessionKey, exchangeKey, SIMPLEBLOB, 0);
  await CryptDestroyKey(sessionKey);
  console.log(`document: ${encrypted.length} bytes of AES-256-CBC, key in a ${simpleBlob.length}-byte SIMPLEBLOB`);

  // Later, anywhere the card is: the card unwraps the session key, which then decrypts the document.
  const unwrapped = await CryptImportKey(prov, simpleBlob, exchangeKey, 0);
  const decrypted = await CryptDecrypt(unwrapped, null, true, 0, encrypted);
  console.log(decrypted.equals(document) ? 'document decrypted: identical' : 'document decrypted: DIFFERENT');
  await CryptDestroyKey(unwrapped);
  await CryptDestroyKey(exchangeKey);
} finally {
  await CryptReleaseContext(prov, 0);
  await setDefaultSmartCardService(null); // closes the card sessions so the process can exit
}
