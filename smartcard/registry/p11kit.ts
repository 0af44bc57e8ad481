/**
 * p11-kit's module configuration (pkcs11.conf(5)), read so the modules a system already knows can be
 * listed and registered in one step.
 *
 * Rules followed (p11-kit `p11-kit/conf.c`):
 * - One `<name>.module` file per module; the name is the file name without `.module`; other files
 *   are ignored.
 * - Directories in increasing precedence: the package directory (/usr/share/p11-kit/modules), the
 *   administrator's (/etc/pkcs11/modules), the user's (~/.config/pkcs11/modules). A file of the same
 *   name in a later directory overrides field by field (`_p11_conf_merge_defaults`): keys it sets
 *   win, keys it omits are inherited.
 * - `key: value` lines, `#` comments, blank lines ignored.
 * - `module:` present but blank (the manual's own way to switch a module off) or absent: disabled.
 * - `enable-in:` / `disable-in:` are comma-separated program names; p11-ksp is the program here.
 * - A relative `module:` is resolved under p11-kit's module directory.
 *
 * Not followed: pkcs11.conf's `user-config: none|only` (the user directory is always merged).
 */
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { CryptError } from '../../minidriver/errors.js';
import { NAME_PATTERN, type RegistrationInput } from './registration.js';
import type { AddOptions, RegistryStore } from './store.js';

/** Debian/Ubuntu amd64's p11-kit module directory (P11_MODULE_PATH). */
export const P11KIT_MODULE_DIR = '/usr/lib/x86_64-linux-gnu/pkcs11';
/** The program name compared with enable-in / disable-in. */
export const P11KSP_PROGRAM = 'p11-ksp';

export function defaultP11KitConfigDirs(home: string = homedir()): string[] {
  return ['/usr/share/p11-kit/modules', '/etc/pkcs11/modules', join(home, '.config', 'pkcs11', 'modules')];
}

export interface P11KitModule {
  /** The configuration name (file name without `.module`). */
  name: string;
  /** Absolute module path, or undefined when the configuration blanks it out. */
  module?: string;
  /** p11-kit's priority (higher first); 0 when not set. */
  priority: number;
  /** Whether p11-kit would load it into p11-ksp. */
  enabled: boolean;
  /** `trust-policy: yes`: a source of trust anchors (CA certificates), not of client keys. */
  trustPolicy: boolean;
  critical: boolean;
  enableIn?: string[];
  disableIn?: string[];
  /** The files it was merged from, lowest precedence first. */
  files: string[];
  /** Every key as merged, for fields not interpreted here. */
  config: Record<string, string>;
}

export interface P11KitOptions {
  /** Configuration directories, lowest precedence first. Default: package, system, user. */
  dirs?: string[];
  /** Where relative `module:` names live. Default P11KIT_MODULE_DIR. */
  moduleDir?: string;
  /** The program name for enable-in / disable-in. Default 'p11-ksp'. */
  program?: string;
}

/** Parses one `.module` file's text into its keys. Later duplicates win, as in p11-kit. */
export function parseModuleConfig(text: string): Record<string, string> {
  const config: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue; // p11-kit warns and skips such lines
    config[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return config;
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').map((item) => item.trim()).filter(Boolean);
}

function yes(value: string | undefined): boolean {
  return value !== undefined && /^(yes|true|1|on)$/i.test(value);
}

/** Interprets merged keys: resolves the module path and decides enablement for `program`. */
export function interpretModule(name: string, config: Record<string, string>, files: string[], options: P11KitOptions = {}): P11KitModule {
  const moduleDir = options.moduleDir ?? P11KIT_MODULE_DIR;
  const program = options.program ?? P11KSP_PROGRAM;
  const raw = config.module;
  const module = raw ? (isAbsolute(raw) ? raw : join(moduleDir, raw)) : undefined;
  const priority = Number.parseInt(config.priority ?? '0', 10);
  const enableIn = list(config['enable-in']);
  const disableIn = list(config['disable-in']);
  let enabled = module !== undefined;
  if (enabled && enableIn !== undefined) enabled = enableIn.includes(program);
  if (enabled && disableIn !== undefined) enabled = !disableIn.includes(program);
  return {
    name,
    module,
    priority: Number.isSafeInteger(priority) ? priority : 0,
    enabled,
    trustPolicy: yes(config['trust-policy']),
    critical: yes(config.critical),
    enableIn,
    disableIn,
    files,
    config,
  };
}

/** Every module p11-kit's configuration names, merged across directories, sorted by name. */
export async function listP11KitModules(options: P11KitOptions = {}): Promise<P11KitModule[]> {
  const dirs = options.dirs ?? defaultP11KitConfigDirs();
  const merged = new Map<string, { config: Record<string, string>; files: string[] }>();
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = await fs.readdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue; // an absent directory configures nothing
      throw err;
    }
    for (const entry of entries.sort()) {
      if (!entry.endsWith('.module') || entry.startsWith('.')) continue;
      const file = join(dir, entry);
      let text: string;
      try {
        text = await fs.readFile(file, 'utf8');
      } catch {
        continue; // unreadable (a directory, no permission): p11-kit skips it too
      }
      const name = basename(entry, '.module');
      const config = parseModuleConfig(text);
      const previous = merged.get(name);
      if (previous) merged.set(name, { config: { ...previous.config, ...config }, files: [...previous.files, file] });
      else merged.set(name, { config, files: [file] });
    }
  }
  return [...merged.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, { config, files }]) => interpretModule(name, config, files, options));
}

/** A p11-kit configuration name turned into a valid card type name. */
export function registrationNameFor(moduleName: string): string {
  const name = moduleName.replace(/[^A-Za-z0-9 ._-]/g, '_').slice(0, 64);
  return NAME_PATTERN.test(name) ? name : 'p11-kit-module';
}

export interface ToRegistrationsOptions {
  /** Also register trust-policy modules (p11-kit-trust): they hold CA anchors, not cards. Default false. */
  includeTrust?: boolean;
}

/**
 * Registrations for the enabled modules: one minidriver registration per module, with no match
 * criteria (it serves every token its module lists) and p11-kit's priority.
 */
export function toRegistrations(modules: readonly P11KitModule[], options: ToRegistrationsOptions = {}): RegistrationInput[] {
  return modules
    .filter((m) => m.enabled && m.module !== undefined && (options.includeTrust || !m.trustPolicy))
    .map((m) => ({ name: registrationNameFor(m.name), kind: 'minidriver' as const, module: m.module, match: {}, priority: m.priority }));
}

export interface ImportResult {
  added: string[];
  /** Names already registered (and not replaced). */
  skipped: string[];
}

/** The one-step import: lists p11-kit's modules and registers each enabled one. */
export async function importP11KitModules(store: RegistryStore, options: P11KitOptions & ToRegistrationsOptions & AddOptions = {}): Promise<ImportResult> {
  const result: ImportResult = { added: [], skipped: [] };
  for (const input of toRegistrations(await listP11KitModules(options), options)) {
    try {
      await store.add(input, { replace: options.replace });
      result.added.push(input.name);
    } catch (err) {
      if (!CryptError.is(err, 'NTE_EXISTS')) throw err;
      result.skipped.push(input.name);
    }
  }
  return result;
}
