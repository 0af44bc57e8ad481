import {
  AdminCreateDeleteDirAc, UserCreateDeleteDirAc, szBASE_CSP_DIR,
} from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { certificateFileName, decodeCertificateFile, decodeCmapFile, parseCertificateFileName } from '../minidriver/codecs/index.js';
import type { CardFileInfo } from '../minidriver/structures.js';
import { type CardFile, filePath, fileRights, isValidDirAc, isValidFileAc, normaliseName } from './card-files.js';
import { type CardContextCore, checkFlags } from './context-core.js';
import { findCertificate, readCertificate, removeCertificates, storeCertificate } from './certificates.js';
import type { KeyPair } from './key-pairs.js';
import type { Pkcs11Handle } from './pkcs11.js';
import { AT_KEYEXCHANGE, AT_SIGNATURE, EveryoneReadUserWriteAc } from '../minidriver/constants.js';

/**
 * The file entry points. Files are CKO_DATA objects (card-files.ts); certificate files mscp/kscNN and
 * mscp/kxcNN are the CKO_CERTIFICATE objects of container NN's keys; a read-only card serves the files
 * synthesised from its keys. Access conditions are enforced against the token's login state.
 */

/** The key pair behind a certificate file name, if the name is one. */
function certificateKey(ctx: CardContextCore, dir: string | null, name: string): { pair?: KeyPair; index: number } | undefined {
  if (dir !== szBASE_CSP_DIR) return undefined;
  const parsed = parseCertificateFileName(name);
  if (!parsed) return undefined;
  return { pair: ctx.state.containers.get(parsed.index)?.[parsed.keySpec], index: parsed.index };
}

function directoryOf(ctx: CardContextCore, s: Pkcs11Handle, dir: string | null, operation: string): CardFile | null {
  if (dir === null) return null;
  if (ctx.state.readOnly) {
    if (dir === szBASE_CSP_DIR) return null;
  } else {
    const d = ctx.state.files.lookup(s, `${dir}/`);
    if (d) return d;
  }
  throw new CryptError('SCARD_E_DIR_NOT_FOUND', `no directory "${dir}"`, { operation, card: ctx.state.name });
}

function requireRole(ctx: CardContextCore, allowed: { user: boolean; admin: boolean }, operation: string, what: string): void {
  const login = ctx.token.login;
  if ((login === 'user' && allowed.user) || (login === 'so' && allowed.admin)) return;
  const who = allowed.user ? 'the user PIN' : 'the administrator PIN';
  throw new CryptError('SCARD_W_SECURITY_VIOLATION', `${what} needs ${who}`, { operation, card: ctx.state.name });
}

function requireWritable(ctx: CardContextCore, operation: string): void {
  if (ctx.state.readOnly) throw new CryptError('SCARD_E_UNSUPPORTED_FEATURE', 'the card is read-only', { operation, card: ctx.state.name });
}

function dirName(dir: string | null, operation: string): string | null {
  return dir === null || dir === undefined ? null : normaliseName(dir, operation, 'directory');
}

/** Where a file call lands: its normalised directory and name, its path, and its certificate key if any. */
interface FileTarget {
  dir: string | null;
  name: string;
  path: string;
  cert: { pair?: KeyPair; index: number } | undefined;
}

/**
 * The preamble every file entry point shares: context open, flags, names normalised, the card
 * writable when the call writes, the directory present; then the work on the anchor session.
 */
function onFile<T>(ctx: CardContextCore, operation: string, dirIn: string | null, nameIn: string, options: { flags?: number; writes: boolean },
  work: (s: Pkcs11Handle, target: FileTarget) => T): T {
  ctx.assertOpen(operation);
  checkFlags(options.flags, 0, operation);
  const dir = dirName(dirIn, operation);
  const name = normaliseName(nameIn, operation, 'file');
  if (options.writes) requireWritable(ctx, operation);
  return ctx.token.sync(operation, (s) => {
    directoryOf(ctx, s, dir, operation);
    return work(s, { dir, name, path: filePath(dir, name), cert: certificateKey(ctx, dir, name) });
  });
}

export async function cardReadFile(ctx: CardContextCore, dirIn: string | null, nameIn: string, flags?: number): Promise<Buffer> {
  const operation = 'CardReadFile';
  return onFile(ctx, operation, dirIn, nameIn, { flags, writes: false }, (s, { path, cert }) => {
    if (path === 'mscp/cmapfile') ctx.state.reconcile(s); // the keys on the token are the truth
    if (cert) {
      const handle = cert.pair && findCertificate(ctx.token, s, cert.pair.id);
      if (!handle) throw new CryptError('SCARD_E_FILE_NOT_FOUND', `no file "${path}": container ${cert.index} has no such certificate`, { operation, card: ctx.state.name });
      return readCertificate(ctx.token, s, handle);
    }
    const synthetic = ctx.state.syntheticFile(path);
    if (synthetic) return Buffer.from(synthetic);
    // The value comes with the lookup (one token call when the handle is known); it is returned only
    // once the access condition allows it.
    const found = ctx.state.readOnly ? undefined : ctx.state.files.lookupAndRead(s, path);
    if (!found) throw new CryptError('SCARD_E_FILE_NOT_FOUND', `no file "${path}"`, { operation, card: ctx.state.name });
    const rights = fileRights(found.file.accessCondition);
    if (!rights.everyoneRead) requireRole(ctx, { user: rights.userRead, admin: true }, operation, `reading "${path}"`);
    return found.value;
  });
}

export async function cardWriteFile(ctx: CardContextCore, dirIn: string | null, nameIn: string, flags: number, data: Uint8Array): Promise<void> {
  const operation = 'CardWriteFile';
  if (!(data instanceof Uint8Array)) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'pbData is required', { operation });
  onFile(ctx, operation, dirIn, nameIn, { flags, writes: true }, (s, { path, cert }) => {
    if (cert) {
      requireRole(ctx, { user: true, admin: true }, operation, `writing "${path}"`);
      if (!cert.pair) throw new CryptError('SCARD_E_NO_KEY_CONTAINER', `container ${cert.index} has no key for the certificate "${path}"`, { operation, card: ctx.state.name });
      storeCertificate(ctx.token, s, cert.pair.id, ctx.state.records[cert.index]?.wszGuid ?? cert.pair.label, decodeCertificateFile(data), operation);
      return;
    }
    const file = ctx.state.files.lookup(s, path);
    if (!file) throw new CryptError('SCARD_E_FILE_NOT_FOUND', `no file "${path}"; create it with CardCreateFile first`, { operation, card: ctx.state.name });
    if (path === 'mscp/cmapfile') decodeCmapFile(data); // refuse what is not a container map: the card must stay usable
    const rights = fileRights(file.accessCondition);
    requireRole(ctx, { user: rights.userWrite, admin: rights.adminWrite }, operation, `writing "${path}"`);
    ctx.state.files.write(s, file, data);
    // The CSP writes the map before it creates a container's keys: this context's view must follow.
    if (path === 'mscp/cmapfile') ctx.state.reconcile(s);
  });
}

export async function cardCreateFile(ctx: CardContextCore, dirIn: string | null, nameIn: string, initialSize: number, ac: number): Promise<void> {
  const operation = 'CardCreateFile';
  ctx.assertOpen(operation);
  const dir = dirName(dirIn, operation);
  const name = normaliseName(nameIn, operation, 'file');
  if (!Number.isInteger(initialSize) || initialSize < 0) throw new CryptError('SCARD_E_INVALID_PARAMETER', 'cbInitialCreationSize must be a non-negative integer', { operation });
  if (!isValidFileAc(ac)) throw new CryptError('SCARD_E_INVALID_PARAMETER', `access condition ${ac} is not a file access condition`, { operation });
  requireWritable(ctx, operation);
  ctx.token.sync(operation, (s) => {
    const parent = directoryOf(ctx, s, dir, operation);
    const path = filePath(dir, name);
    const parentAc = parent ? parent.accessCondition : AdminCreateDeleteDirAc;
    requireRole(ctx, { user: parentAc === UserCreateDeleteDirAc, admin: true }, operation, `creating files in "${dir ?? 'the root'}"`);
    const cert = certificateKey(ctx, dir, name);
    if (cert) {
      // Certificates are created by writing them; a certificate file exists once its key has a certificate.
      if (cert.pair && findCertificate(ctx.token, s, cert.pair.id)) throw new CryptError('ERROR_FILE_EXISTS', `"${path}" exists`, { operation, card: ctx.state.name });
      return;
    }
    if (ctx.state.files.lookup(s, path)) throw new CryptError('ERROR_FILE_EXISTS', `"${path}" exists`, { operation, card: ctx.state.name });
    ctx.state.files.create(s, path, ac, Buffer.alloc(0));
  });
}

export async function cardDeleteFile(ctx: CardContextCore, dirIn: string | null, nameIn: string, flags?: number): Promise<void> {
  const operation = 'CardDeleteFile';
  onFile(ctx, operation, dirIn, nameIn, { flags, writes: true }, (s, { path, cert }) => {
    if (cert) {
      requireRole(ctx, { user: true, admin: true }, operation, `deleting "${path}"`);
      if (!cert.pair || removeCertificates(ctx.token, s, cert.pair.id) === 0) throw new CryptError('SCARD_E_FILE_NOT_FOUND', `no file "${path}"`, { operation, card: ctx.state.name });
      return;
    }
    const file = ctx.state.files.lookup(s, path);
    if (!file) throw new CryptError('SCARD_E_FILE_NOT_FOUND', `no file "${path}"`, { operation, card: ctx.state.name });
    const rights = fileRights(file.accessCondition);
    requireRole(ctx, { user: rights.userWrite, admin: rights.adminWrite }, operation, `deleting "${path}"`);
    ctx.state.files.remove(s, file);
  });
}

export async function cardEnumFiles(ctx: CardContextCore, dirIn: string | null, flags?: number): Promise<string[]> {
  const operation = 'CardEnumFiles';
  ctx.assertOpen(operation);
  checkFlags(flags, 0, operation);
  const dir = dirName(dirIn, operation);
  return ctx.token.sync(operation, (s) => {
    directoryOf(ctx, s, dir, operation);
    const prefix = dir ? `${dir}/` : '';
    const names = new Set<string>();
    const paths = ctx.state.readOnly ? ['cardid', 'cardcf', 'cardapps', 'mscp/', 'mscp/cmapfile'] : ctx.state.files.list(s);
    for (const p of paths) {
      if (!p.startsWith(prefix) || p === prefix) continue;
      const rest = p.slice(prefix.length);
      if (!rest.includes('/')) names.add(rest);
      else if (!dir && rest.endsWith('/') && rest.indexOf('/') === rest.length - 1) names.add(rest.slice(0, -1));
    }
    if (dir === szBASE_CSP_DIR) {
      ctx.state.reconcile(s);
      for (const [index, keys] of ctx.state.containers) {
        if (keys.sig && findCertificate(ctx.token, s, keys.sig.id)) names.add(certificateFileName(AT_SIGNATURE, index));
        if (keys.keyx && findCertificate(ctx.token, s, keys.keyx.id)) names.add(certificateFileName(AT_KEYEXCHANGE, index));
      }
    }
    return [...names].sort();
  });
}

export async function cardGetFileInfo(ctx: CardContextCore, dirIn: string | null, nameIn: string): Promise<CardFileInfo> {
  const operation = 'CardGetFileInfo';
  ctx.assertOpen(operation);
  const dir = dirName(dirIn, operation);
  const name = normaliseName(nameIn, operation, 'file');
  const cert = certificateKey(ctx, dir, name);
  let ac = EveryoneReadUserWriteAc;
  if (!cert && !ctx.state.readOnly) {
    ac = ctx.token.sync(operation, (s) => ctx.state.files.lookup(s, filePath(dir, name))?.accessCondition ?? EveryoneReadUserWriteAc);
  }
  const data = await cardReadFile(ctx, dir, name);
  return { dwVersion: 1, cbFileSize: data.length, AccessCondition: ac };
}

export async function cardCreateDirectory(ctx: CardContextCore, dirIn: string, ac: number): Promise<void> {
  const operation = 'CardCreateDirectory';
  ctx.assertOpen(operation);
  const dir = normaliseName(dirIn, operation, 'directory');
  if (!isValidDirAc(ac)) throw new CryptError('SCARD_E_INVALID_PARAMETER', `access condition ${ac} is not a directory access condition`, { operation });
  requireWritable(ctx, operation);
  requireRole(ctx, { user: false, admin: true }, operation, 'creating a directory');
  ctx.token.sync(operation, (s) => {
    if (ctx.state.files.lookup(s, `${dir}/`)) throw new CryptError('ERROR_FILE_EXISTS', `directory "${dir}" exists`, { operation, card: ctx.state.name });
    ctx.state.files.create(s, `${dir}/`, ac, Buffer.alloc(0));
  });
}

export async function cardDeleteDirectory(ctx: CardContextCore, dirIn: string): Promise<void> {
  const operation = 'CardDeleteDirectory';
  ctx.assertOpen(operation);
  const dir = normaliseName(dirIn, operation, 'directory');
  requireWritable(ctx, operation);
  ctx.token.sync(operation, (s) => {
    const d = ctx.state.files.lookup(s, `${dir}/`);
    if (!d) throw new CryptError('SCARD_E_DIR_NOT_FOUND', `no directory "${dir}"`, { operation, card: ctx.state.name });
    requireRole(ctx, { user: d.accessCondition === UserCreateDeleteDirAc, admin: true }, operation, `deleting directory "${dir}"`);
    if (ctx.state.files.list(s).some((p) => p.startsWith(`${dir}/`) && p !== `${dir}/`)) {
      throw new CryptError('ERROR_DIR_NOT_EMPTY', `directory "${dir}" is not empty`, { operation, card: ctx.state.name });
    }
    ctx.state.files.remove(s, d);
  });
}
