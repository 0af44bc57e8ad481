/**
 * `p11-ksp certs [--module PATH] [--reader NAME] [--export DIR] [--json]`: the certificate of every
 * card key that has one (NCRYPT_CERTIFICATE_PROPERTY), decoded with @peculiar/x509: subject, issuer,
 * serial, validity, SHA-1 thumbprint (certutil's "Cert Hash(sha1)"), container, key spec.
 *
 * --export writes each as <container>-<keyspec>.cer (DER, as Windows' .cer) and prints the paths.
 * No PIN: certificates are public card data.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { X509Certificate } from '@peculiar/x509';
import { NCryptFreeObject, NCryptGetProperty } from '../../ksp/index.js';
import { NCRYPT_CERTIFICATE_PROPERTY, NCRYPT_SILENT_FLAG } from '../../ksp/constants.js';
import { CryptError } from '../../minidriver/errors.js';
import { openKey, type ServiceOptions, withProvider } from '../card-service.js';
import { UsageError } from '../exit-codes.js';
import type { CertificateJson, CertsDocument } from '../json-schema.js';
import type { Output } from '../output.js';
import { listContainers } from './containers.js';

export interface CertsOptions extends ServiceOptions {
  reader?: string;
  export?: string;
  json?: boolean;
}

const LEGACY_KEY_SPECS = { exchange: 1, signature: 2, none: 0 } as const;

function describe(der: Buffer, where: Pick<CertificateJson, 'reader' | 'container' | 'keySpec'>): CertificateJson {
  const cert = new X509Certificate(new Uint8Array(der)); // a copy backed by a plain ArrayBuffer, as the library types want
  return {
    ...where,
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    sha1Thumbprint: createHash('sha1').update(der).digest('hex'),
  };
}

/** A file name from a container name: path separators and other awkward characters become "_". */
function fileNameFor(c: CertificateJson): string {
  return `${c.container.replace(/[^A-Za-z0-9._{}-]/g, '_')}-${c.keySpec}.cer`;
}

export async function certsCommand(options: CertsOptions, out: Output): Promise<void> {
  const found: { json: CertificateJson; der: Buffer }[] = [];
  await withProvider(options, out, async (hProv, service) => {
    for (const c of await listContainers(hProv, service, options.reader)) {
      for (const k of c.keys.filter((key) => key.hasCertificate)) {
        const hKey = await openKey(hProv, c.name, c.reader, LEGACY_KEY_SPECS[k.keySpec]);
        try {
          const der = await NCryptGetProperty(hKey, NCRYPT_CERTIFICATE_PROPERTY, NCRYPT_SILENT_FLAG) as Buffer;
          try {
            found.push({ json: describe(der, { reader: c.reader, container: c.name, keySpec: k.keySpec }), der });
          } catch (err) {
            throw new CryptError('NTE_BAD_DATA', `the certificate of container "${c.name}" (${k.keySpec}) in "${c.reader}" is not a valid X.509 certificate: ${err instanceof Error ? err.message : String(err)}`, { operation: 'p11-ksp certs' });
          }
        } finally {
          await NCryptFreeObject(hKey);
        }
      }
    }
  });
  if (options.export) {
    const dir = resolve(options.export);
    try {
      mkdirSync(dir, { recursive: true });
      for (const f of found) {
        f.json.file = join(dir, fileNameFor(f.json));
        writeFileSync(f.json.file, f.der);
      }
    } catch (err) {
      throw new UsageError(`cannot write certificates to --export ${options.export}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const certificates = found.map((f) => f.json);
  if (options.json) {
    const doc: CertsDocument = { schema: 'p11-ksp/certs/v1', certificates };
    out.document(doc);
    return;
  }
  if (certificates.length === 0) out.line('No certificates.');
  certificates.forEach((c, i) => {
    if (i > 0) out.line();
    out.line(`Container: ${c.container} (${c.keySpec})  reader ${c.reader}`);
    out.line(`  Subject:     ${c.subject}`);
    out.line(`  Issuer:      ${c.issuer}`);
    out.line(`  Serial:      ${c.serialNumber}`);
    out.line(`  NotBefore:   ${c.notBefore}`);
    out.line(`  NotAfter:    ${c.notAfter}`);
    out.line(`  Cert Hash(sha1): ${c.sha1Thumbprint}`);
    if (c.file) out.line(`  Exported:    ${c.file}`);
  });
}
