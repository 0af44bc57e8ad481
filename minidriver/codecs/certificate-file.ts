/**
 * Certificate files in mscp: their names (kscNN / kxcNN) and their content (compressed or raw DER).
 *
 * Why: with fCertificateCompression FALSE, Base CSP/KSP writes certificates as `01 00` (WORD version 1)
 * + WORD LE uncompressed length + a zlib stream, the format Windows-managed GIDS cards carry; cards
 * written by other tools hold raw DER. A driver must read both and give the token plain DER. The file
 * name ties the certificate to a container index and slot, so name parsing decides which key a
 * certificate belongs to.
 *
 * Names: written as the prefix plus two lowercase hex digits (`kxc00`, `ksc0a`). Parsing accepts one
 * or two hex digits in any case. "ksc10" is read as hex (index 16) — decimal names (OpenSC's `%02i`)
 * are indistinguishable from hex ones, and hex is what Windows-written cards use (OpenSC's GIDS
 * driver reads them with `%02X`); decimal and hex agree for indexes 0–9.
 *
 * Errors: SCARD_E_INVALID_PARAMETER (see cardcf.ts).
 */
import { inflateSync, deflateSync } from 'node:zlib';
import {
  AT_ECDHE_P256, AT_ECDHE_P384, AT_ECDHE_P521, AT_ECDSA_P256, AT_ECDSA_P384, AT_ECDSA_P521, AT_KEYEXCHANGE, AT_SIGNATURE,
  szUSER_KEYEXCHANGE_CERT_PREFIX, szUSER_SIGNATURE_CERT_PREFIX,
} from '../constants.js';
import { CryptError } from '../errors.js';

/** WORD version at the start of a compressed certificate file. */
export const CERTIFICATE_COMPRESSION_VERSION = 1;
const COMPRESSED_HEADER_SIZE = 4;
const MAX_UNCOMPRESSED_LENGTH = 0xffff;
const DER_SEQUENCE_TAG = 0x30;

/** Which container slot a certificate file belongs to. */
export type CertificateSlot = 'sig' | 'keyx';

function invalid(message: string): CryptError {
  return new CryptError('SCARD_E_INVALID_PARAMETER', `certificate file: ${message}`);
}

/** Total length of the DER SEQUENCE at the start of `bytes`, or an error when the header is malformed. */
function derSequenceLength(bytes: Uint8Array): number {
  if (bytes.length < 2 || bytes[0] !== DER_SEQUENCE_TAG) throw invalid('content is not a DER SEQUENCE');
  const first = bytes[1]!;
  if (first < 0x80) return 2 + first;
  const lengthBytes = first & 0x7f;
  if (lengthBytes === 0 || lengthBytes > 4) throw invalid('DER length is indefinite or too large');
  if (bytes.length < 2 + lengthBytes) throw invalid('DER length is truncated');
  let length = 0;
  for (let i = 0; i < lengthBytes; i++) length = length * 256 + bytes[2 + i]!;
  return 2 + lengthBytes + length;
}

/** The Base CSP compressed form of a DER certificate: `01 00`, WORD LE length, zlib(der). */
export function compressCertificate(der: Uint8Array): Buffer {
  if (!(der instanceof Uint8Array)) throw invalid('expected DER bytes');
  if (derSequenceLength(der) !== der.length) throw invalid('input is not exactly one DER SEQUENCE');
  if (der.length > MAX_UNCOMPRESSED_LENGTH) throw invalid(`${der.length} bytes does not fit the WORD length field`);
  const header = Buffer.alloc(COMPRESSED_HEADER_SIZE);
  header.writeUInt16LE(CERTIFICATE_COMPRESSION_VERSION, 0);
  header.writeUInt16LE(der.length, 2);
  return Buffer.concat([header, deflateSync(der)]);
}

function decompress(bytes: Buffer): Buffer {
  const declared = bytes.readUInt16LE(2);
  let der: Buffer;
  try {
    // The declared length bounds the output, so a hostile stream cannot inflate without limit.
    der = inflateSync(bytes.subarray(COMPRESSED_HEADER_SIZE), { maxOutputLength: Math.max(declared, 1) });
  } catch (cause) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', 'certificate file: the zlib stream is corrupt or longer than its declared length', { cause });
  }
  if (der.length !== declared) throw invalid(`inflated to ${der.length} bytes, the header declares ${declared}`);
  if (derSequenceLength(der) !== der.length) throw invalid('inflated content is not exactly one DER SEQUENCE');
  return der;
}

/**
 * The DER certificate in a certificate file, compressed (`01 00 ...`) or raw (starting 0x30). Raw
 * content may be followed by padding (fixed-size card files); the DER length decides where it ends.
 */
export function decodeCertificateFile(bytes: Uint8Array): Buffer {
  if (!(bytes instanceof Uint8Array)) throw invalid('expected bytes');
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= COMPRESSED_HEADER_SIZE && b.readUInt16LE(0) === CERTIFICATE_COMPRESSION_VERSION) return decompress(b);
  if (b.length > 0 && b[0] === DER_SEQUENCE_TAG) {
    const length = derSequenceLength(b);
    if (length > b.length) throw invalid(`DER declares ${length} bytes, the file has ${b.length}`);
    return Buffer.from(b.subarray(0, length));
  }
  throw invalid('neither a compressed certificate (01 00 ...) nor DER (30 ...)');
}

const KEYX_SPECS = new Set([AT_KEYEXCHANGE, AT_ECDHE_P256, AT_ECDHE_P384, AT_ECDHE_P521]);
const SIG_SPECS = new Set([AT_SIGNATURE, AT_ECDSA_P256, AT_ECDSA_P384, AT_ECDSA_P521]);

/** `kxcNN` for key-exchange specs (AT_KEYEXCHANGE, AT_ECDHE_*), `kscNN` for signature specs (AT_SIGNATURE, AT_ECDSA_*). */
export function certificateFileName(keySpec: number, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 0xff) throw invalid(`container index ${index} is not 0..255`);
  const prefix = KEYX_SPECS.has(keySpec) ? szUSER_KEYEXCHANGE_CERT_PREFIX : SIG_SPECS.has(keySpec) ? szUSER_SIGNATURE_CERT_PREFIX : null;
  if (prefix === null) throw invalid(`key spec ${keySpec} has no certificate file`);
  return `${prefix}${index.toString(16).padStart(2, '0')}`;
}

const CERTIFICATE_NAME = /^(ksc|kxc)([0-9a-f]{1,2})$/i;

/**
 * The slot and container index a certificate file name stands for, or null when `name` is not a
 * certificate file (e.g. "cmapfile") — that is an ordinary answer for a caller dispatching on names.
 */
export function parseCertificateFileName(name: string): { keySpec: CertificateSlot; index: number } | null {
  if (typeof name !== 'string') throw invalid('file name must be a string');
  const match = CERTIFICATE_NAME.exec(name);
  if (!match) return null;
  return {
    keySpec: match[1]!.toLowerCase() === szUSER_KEYEXCHANGE_CERT_PREFIX ? 'keyx' : 'sig',
    index: parseInt(match[2]!, 16),
  };
}
