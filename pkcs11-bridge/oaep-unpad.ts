import { createHash, timingSafeEqual } from 'node:crypto';
import { CryptError } from '../minidriver/errors.js';

/**
 * EME-OAEP decoding (RFC 8017 §7.1.2) of a raw RSA block, for tokens that decrypt raw (CKM_RSA_X_509)
 * but refuse the OAEP parameters asked for (SoftHSM2 2.6 accepts only SHA-1 without a label). This is
 * the work Windows gives the CSP's pfnCspUnpadData; the private key stays on the token.
 */
function mgf1(hash: string, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let produced = 0;
  for (let counter = 0; produced < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(seed).update(c).digest();
    out.push(block);
    produced += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

export function oaepUnpad(block: Buffer, hash: string, label: Uint8Array | undefined, operation: string): Buffer {
  const lHash = createHash(hash).update(label ?? Buffer.alloc(0)).digest();
  const hLen = lHash.length;
  const k = block.length;
  const fail = () => new CryptError('SCARD_E_INVALID_PARAMETER', 'the ciphertext does not decrypt under this key with this OAEP hash and label', { operation });
  if (k < 2 * hLen + 2) throw fail();
  const maskedSeed = block.subarray(1, 1 + hLen);
  const maskedDb = block.subarray(1 + hLen);
  const seed = Buffer.from(maskedSeed.map((b, i) => b ^ mgf1(hash, maskedDb, hLen)[i]));
  const dbMask = mgf1(hash, seed, k - hLen - 1);
  const db = Buffer.from(maskedDb.map((b, i) => b ^ dbMask[i]));
  // Check everything before deciding, so the failure does not tell which part was wrong.
  let ok = block[0] === 0 ? 1 : 0;
  ok &= timingSafeEqual(db.subarray(0, hLen), lHash) ? 1 : 0;
  let separator = -1;
  for (let i = hLen; i < db.length; i++) {
    if (separator < 0 && db[i] === 0x01) separator = i;
    else if (separator < 0 && db[i] !== 0x00) ok = 0;
  }
  if (!ok || separator < 0) throw fail();
  return Buffer.from(db.subarray(separator + 1));
}
