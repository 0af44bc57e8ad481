// OpenSC's pkcs11-tool as the independent "other tool": key pairs it makes in its own process must
// show up in ours, and what we make must show up in its listing. The PIN goes on argv, which is
// visible to other local users through ps: acceptable for throwaway test tokens only.
import { execFileSync } from 'node:child_process';

export interface Pkcs11ToolToken {
  modulePath: string;
  /** Token label (pkcs11-tool --token-label). */
  label: string;
  pin: string;
  /** Environment of the child; default process.env (which carries the rig's SOFTHSM2_CONF). */
  env?: NodeJS.ProcessEnv;
}

export type Pkcs11ToolObjectType = 'privkey' | 'pubkey' | 'cert' | 'data' | 'secrkey';

export class Pkcs11ToolError extends Error {
  constructor(readonly args: string[], readonly status: number | null, readonly stdout: string, readonly stderr: string) {
    super(`pkcs11-tool ${args.join(' ')} exited ${status}: ${stderr.trim() || stdout.trim()}`);
    this.name = 'Pkcs11ToolError';
  }
}

/** Runs pkcs11-tool; returns stdout, throws Pkcs11ToolError (with stderr, e.g. "CKR_PIN_LOCKED"). */
export function runPkcs11Tool(args: string[], env: NodeJS.ProcessEnv = process.env): string {
  try {
    return execFileSync('pkcs11-tool', args, { env, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const e = error as { status?: number | null; stdout?: string; stderr?: string };
    // PINs are on argv: keep them out of error messages that end up in test logs.
    const shown = args.map((arg, i) => (args[i - 1] === '--pin' || args[i - 1] === '--so-pin' ? '***' : arg));
    throw new Pkcs11ToolError(shown, e.status ?? null, e.stdout ?? '', e.stderr ?? '');
  }
}

function loginArgs(token: Pkcs11ToolToken): string[] {
  return ['--module', token.modulePath, '--token-label', token.label, '--login', '--pin', token.pin];
}

export interface KeyPairSpec {
  /** pkcs11-tool --key-type, e.g. "rsa:2048", "EC:prime256v1", "EC:secp384r1". */
  keyType: string;
  /** CKA_ID as hex, e.g. "0a0b". */
  id: string;
  label: string;
  /** More pkcs11-tool arguments, e.g. ["--usage-sign"]. */
  extraArgs?: string[];
}

/** Generates a token key pair (private key sensitive, never extractable: pkcs11-tool's defaults). */
export function generateKeyPair(token: Pkcs11ToolToken, spec: KeyPairSpec): void {
  runPkcs11Tool([...loginArgs(token), '--keypairgen', '--key-type', spec.keyType, '--id', spec.id,
    '--label', spec.label, ...(spec.extraArgs ?? [])], token.env);
}

export interface Pkcs11ToolObject {
  /** "Private Key", "Public Key", "Certificate", "Data", "Secret Key". */
  kind: string;
  /** What follows the ";" of the heading, e.g. "RSA 2048 bits", "EC  EC_POINT 256 bits". */
  description: string;
  label?: string;
  /** CKA_ID in lower-case hex. */
  id?: string;
  usage: string[];
  access: string[];
  /** Every "name: value" line of the object, as printed. */
  fields: Record<string, string>;
}

/** Lists objects (private ones too: it logs in), optionally of one type. */
export function listObjects(token: Pkcs11ToolToken, type?: Pkcs11ToolObjectType): Pkcs11ToolObject[] {
  const out = runPkcs11Tool([...loginArgs(token), '--list-objects', ...(type ? ['--type', type] : [])], token.env);
  return parseObjectListing(out);
}

/**
 * Parses --list-objects output: an unindented "<Kind> Object; <description>" heading, then
 * indented "name: value" lines.
 */
export function parseObjectListing(out: string): Pkcs11ToolObject[] {
  const objects: Pkcs11ToolObject[] = [];
  for (const line of out.split('\n')) {
    const heading = /^(\S.*?) [Oo]bject;?\s*(.*)$/.exec(line);
    if (heading) {
      objects.push({ kind: heading[1], description: heading[2].trim(), usage: [], access: [], fields: {} });
      continue;
    }
    const field = /^\s+([^:]+):\s*(.*)$/.exec(line);
    const current = objects[objects.length - 1];
    if (!field || !current) continue;
    const name = field[1].trim();
    const value = field[2].trim();
    current.fields[name] = value;
    if (name === 'label') current.label = value;
    if (name === 'ID') current.id = value.toLowerCase();
    if (name === 'Usage') current.usage = splitList(value);
    if (name === 'Access') current.access = splitList(value);
  }
  return objects;
}

function splitList(value: string): string[] {
  return value === 'none' ? [] : value.split(',').map((s) => s.trim()).filter(Boolean);
}

export interface DeleteSpec {
  type: Pkcs11ToolObjectType;
  /** CKA_ID as hex; give id, label or both. */
  id?: string;
  label?: string;
}

/** Deletes one object matching type + id/label; throws if none matches ("object not found"). */
export function deleteObject(token: Pkcs11ToolToken, spec: DeleteSpec): void {
  if (spec.id === undefined && spec.label === undefined) throw new Error('deleteObject needs an id or a label');
  runPkcs11Tool([...loginArgs(token), '--delete-object', '--type', spec.type,
    ...(spec.id !== undefined ? ['--id', spec.id] : []),
    ...(spec.label !== undefined ? ['--label', spec.label] : [])], token.env);
}

/** Deletes the private and the public key of a pair made by generateKeyPair. */
export function deleteKeyPair(token: Pkcs11ToolToken, id: string): void {
  deleteObject(token, { type: 'privkey', id });
  deleteObject(token, { type: 'pubkey', id });
}
