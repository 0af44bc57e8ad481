/**
 * The minidriver's byte formats in one import: card files (cardcf, cardid, cmapfile, certificate
 * files) and key blobs (CAPI RSA, BCRYPT ECC, CONTAINER_INFO), plus the curve, hash and KDF tables
 * the codecs and entry points share.
 */
export * from './cardcf.js';
export * from './cmapfile.js';
export * from './cardid.js';
export * from './curves.js';
export * from './capi-rsa-blob.js';
export * from './bcrypt-rsa-blob.js';
export * from './ecc-blob.js';
export * from './container-info.js';
export * from './certificate-file.js';
export * from '../hash-algorithms.js';
export * from '../kdf.js';
export * from './pin-info.js';
