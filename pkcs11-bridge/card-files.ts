import { CryptError } from '../minidriver/errors.js';
import {
  AdminCreateDeleteDirAc, AdminReadWriteAc, EveryoneReadAdminWriteAc, EveryoneReadUserWriteAc,
  MAX_FILE_NAME_LEN, UnknownAc, UserCreateDeleteDirAc, UserReadWriteAc, UserWriteExecuteAc,
} from '../minidriver/constants.js';
import { pk, type Pkcs11Handle } from './pkcs11.js';
import type { Token } from './token.js';

/**
 * The card file system, kept on the token as public CKO_DATA objects so that every process sees the
 * same cardid, cmapfile and freshness counters. One object per file or directory:
 *   CKA_LABEL       = the path ("cardid", "mscp/cmapfile"; a directory is "mscp/")
 *   CKA_APPLICATION = "p11-ksp;ac=<access condition>" (the ACL travels with the object)
 *   CKA_VALUE       = the file's bytes
 * Object handles are cached by path and looked up again when another process replaced the object.
 */
export const FILE_APPLICATION = 'p11-ksp';

export interface CardFile {
  path: string;
  isDirectory: boolean;
  accessCondition: number;
  handle: Pkcs11Handle;
  /**
   * Length of CKA_VALUE when this process last read or wrote it: a warm read asks for exactly that
   * many bytes in its one call (Token.attributesKnownLength), and reads again if the file grew.
   */
  valueLength?: number;
}

const A = pk;

/** Checks and normalises a file or directory name: ≤ 8 ANSI characters, case-insensitive. */
export function normaliseName(name: string | null, operation: string, what: 'file' | 'directory'): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `a ${what} name is required`, { operation });
  }
  if (name.length > MAX_FILE_NAME_LEN || !/^[\x21-\x7e]+$/.test(name) || name.includes('/') || name.includes('\\')) {
    throw new CryptError('SCARD_E_INVALID_PARAMETER', `"${name}" is not a valid ${what} name: at most ${MAX_FILE_NAME_LEN} printable ANSI characters, no slashes`, { operation });
  }
  return name.toLowerCase();
}

export function filePath(directory: string | null, file: string): string {
  return directory ? `${directory}/${file}` : file;
}

export function isValidFileAc(ac: number): boolean {
  return [EveryoneReadUserWriteAc, UserWriteExecuteAc, EveryoneReadAdminWriteAc, UnknownAc, UserReadWriteAc, AdminReadWriteAc].includes(ac);
}

export function isValidDirAc(ac: number): boolean {
  return ac === UserCreateDeleteDirAc || ac === AdminCreateDeleteDirAc;
}

/** Who may read and write a file under an access condition (reference §4 enums). */
export function fileRights(ac: number): { everyoneRead: boolean; userRead: boolean; userWrite: boolean; adminWrite: boolean } {
  switch (ac) {
    case EveryoneReadUserWriteAc: return { everyoneRead: true, userRead: true, userWrite: true, adminWrite: true };
    case UserWriteExecuteAc: return { everyoneRead: false, userRead: false, userWrite: true, adminWrite: true };
    case EveryoneReadAdminWriteAc: return { everyoneRead: true, userRead: true, userWrite: false, adminWrite: true };
    case UserReadWriteAc: return { everyoneRead: false, userRead: true, userWrite: true, adminWrite: true };
    case AdminReadWriteAc: return { everyoneRead: false, userRead: false, userWrite: false, adminWrite: true };
    default: return { everyoneRead: true, userRead: true, userWrite: true, adminWrite: true };
  }
}

function parseApplication(app: string): { isOurs: boolean; ac: number } {
  if (!app.startsWith(FILE_APPLICATION)) return { isOurs: false, ac: 0 };
  const m = /;ac=(\d+)/.exec(app);
  return { isOurs: true, ac: m ? Number(m[1]) : EveryoneReadUserWriteAc };
}

/** The file system objects of one token. */
export class TokenFileStore {
  private readonly handles = new Map<string, CardFile>();

  constructor(private readonly token: Token) {}

  /** Looks a path up: the cached handle if still valid, else a fresh search by label. */
  lookup(session: Pkcs11Handle, path: string): CardFile | undefined {
    const cached = this.handles.get(path);
    if (cached) {
      try {
        // Cheap validity probe that also catches an object replaced by another process.
        const [label] = this.token.attributes(session, cached.handle, [A.CKA_LABEL]);
        if (label.toString('utf8') === path) return cached;
      } catch { /* handle went stale: search again */ }
      this.handles.delete(path);
    }
    for (const handle of this.token.find(session, [
      { type: A.CKA_CLASS, value: A.CKO_DATA },
      { type: A.CKA_LABEL, value: path },
    ], 4)) {
      const [app] = this.token.attributes(session, handle, [A.CKA_APPLICATION]);
      const { isOurs, ac } = parseApplication(app.toString('utf8'));
      if (!isOurs) continue;
      const file: CardFile = { path, isDirectory: path.endsWith('/'), accessCondition: ac, handle };
      this.handles.set(path, file);
      return file;
    }
    return undefined;
  }

  /**
   * Looks a path up and reads it. On a cached handle the validity probe and the read are one
   * C_GetAttributeValue (label and value together), and with the value's length known from the
   * previous read, one module call (Token.attributesKnownLength: the label's length is the path's, the
   * buffers are preallocated): a warm read of cardcf, the freshness check every cached open starts
   * with, is then one call on the token. A grown value is read again at its new length; a stale handle
   * is searched for again.
   */
  lookupAndRead(session: Pkcs11Handle, path: string): { file: CardFile; value: Buffer } | undefined {
    const cached = this.handles.get(path);
    if (cached) {
      try {
        const expectedLabel = Buffer.from(path, 'utf8');
        const [label, value] = cached.valueLength === undefined
          ? this.token.attributes(session, cached.handle, [A.CKA_LABEL, A.CKA_VALUE])
          : this.token.attributesKnownLength(session, cached.handle, [
            { type: A.CKA_LABEL, length: expectedLabel.length },
            { type: A.CKA_VALUE, length: cached.valueLength },
          ]);
        if (label.equals(expectedLabel)) {
          cached.valueLength = value.length;
          return { file: cached, value: Buffer.from(value) };
        }
      } catch { /* handle went stale: search again */ }
      this.handles.delete(path);
    }
    const file = this.lookup(session, path);
    return file && { file, value: this.read(session, file) };
  }

  read(session: Pkcs11Handle, file: CardFile): Buffer {
    const value = Buffer.from(this.token.attributes(session, file.handle, [A.CKA_VALUE])[0]);
    file.valueLength = value.length;
    return value;
  }

  /**
   * Replaces the whole content of a file (the minidriver's CardWriteFile semantics). Tokens may keep a
   * data object's CKA_VALUE read-only (SoftHSM2 does), so the object is replaced: the new one is
   * created before the old one goes, so that another process never finds the file missing.
   */
  write(session: Pkcs11Handle, file: CardFile, data: Uint8Array): CardFile {
    const replacement = this.create(session, file.path, file.accessCondition, data);
    try {
      this.token.pkcs11.C_DestroyObject(session, file.handle);
    } catch {
      // Already replaced by another process: ours is now the file.
    }
    return replacement;
  }

  create(session: Pkcs11Handle, path: string, accessCondition: number, data: Uint8Array): CardFile {
    const handle = this.token.pkcs11.C_CreateObject(session, [
      { type: A.CKA_CLASS, value: A.CKO_DATA },
      { type: A.CKA_TOKEN, value: true },
      { type: A.CKA_PRIVATE, value: false },
      { type: A.CKA_MODIFIABLE, value: true },
      { type: A.CKA_LABEL, value: path },
      { type: A.CKA_APPLICATION, value: `${FILE_APPLICATION};ac=${accessCondition}` },
      { type: A.CKA_VALUE, value: Buffer.from(data) },
    ]);
    const file: CardFile = { path, isDirectory: path.endsWith('/'), accessCondition, handle, valueLength: data.length };
    this.handles.set(path, file);
    return file;
  }

  remove(session: Pkcs11Handle, file: CardFile): void {
    this.token.pkcs11.C_DestroyObject(session, file.handle);
    this.handles.delete(file.path);
  }

  /** Paths of every file-system object on the token. */
  list(session: Pkcs11Handle): string[] {
    const paths: string[] = [];
    for (const handle of this.token.find(session, [{ type: A.CKA_CLASS, value: A.CKO_DATA }], 10000)) {
      const [label, app] = this.token.attributes(session, handle, [A.CKA_LABEL, A.CKA_APPLICATION]);
      if (parseApplication(app.toString('utf8')).isOurs) paths.push(label.toString('utf8'));
    }
    return paths;
  }
}
