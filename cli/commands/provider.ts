/**
 * `p11-ksp provider add|list|remove|import-p11kit`: the provider registry (smartcard/registry) from
 * the command line — which PKCS#11 module (minidriver) or JavaScript plug-in serves which card.
 *
 * The registry does the work (validation, locking, atomic files, precedence); this file only turns
 * options into registry calls and results into lines or one JSON document. The registry lives under
 * `<P11KSP_HOME>/providers/`; the home is resolved by home.ts, and nothing here loads a module,
 * so none of these commands needs SoftHSM2 or a card.
 *
 * Why the module path is checked here and not in the registry: the registry stores paths for later
 * and may be fed by tools that install the module afterwards; a person typing `provider add` with a
 * path that is not there has almost certainly mistyped it, so the CLI refuses it as a usage error.
 * Paths are stored absolute: a relative one would mean something else from every other directory.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  comparePrecedence, hasCriteria, importP11KitModules, type MatchCriteria, type Registration, type RegistrationInput, RegistryStore,
} from '../../smartcard/registry/index.js';
import { UsageError } from '../exit-codes.js';
import { resolveHome } from '../../home.js';
import type { ProvidersDocument } from '../json-schema.js';
import type { Output } from '../output.js';

export interface ProviderAddOptions extends MatchCriteria {
  json?: boolean;
  module?: string;
  plugin?: string;
  priority?: number;
  replace?: boolean;
}

export interface ProviderListOptions {
  json?: boolean;
}

export interface ProviderRemoveOptions {
  json?: boolean;
}

export interface ProviderImportOptions {
  json?: boolean;
  includeTrust?: boolean;
  replace?: boolean;
}

/** One provider as `provider list --json` prints it: the registration plus what it outranks. */
export type ProviderJson = Registration & {
  /** Lower-precedence registrations claiming exactly the same cards (present only when non-empty). */
  winsOver?: string[];
};

function openStore(): RegistryStore {
  return new RegistryStore(resolveHome(process.env));
}

/** An existing regular file, as an absolute path; anything else is a usage error naming the option. */
function existingFile(option: string, path: string): string {
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new UsageError(`${option} ${absolute} does not exist; give the path of an installed module`);
  if (!statSync(absolute).isFile()) throw new UsageError(`${option} ${absolute} is not a file`);
  return absolute;
}

/** The match criteria in one line: "atr=3b8f…/ff00… manufacturer=ACME*", or what an empty match means. */
export function describeMatch(reg: Pick<Registration, 'kind' | 'match'>): string {
  const m = reg.match;
  if (!hasCriteria(m)) return reg.kind === 'minidriver' ? '(every token of its module)' : '(nothing)';
  const parts: string[] = [];
  if (m.atr !== undefined) parts.push(`atr=${m.atr}${m.atrMask !== undefined ? `/${m.atrMask}` : ''}`);
  for (const field of ['manufacturer', 'model', 'label', 'serial'] as const) {
    if (m[field] !== undefined) parts.push(`${field}=${m[field]}`);
  }
  return parts.join(' ');
}

/**
 * Do `a` and `b` claim exactly the same cards? Same normalised criteria; and a criteria-less
 * minidriver registration serves its own module's tokens, so two of those overlap only on the same
 * module. (Partly overlapping criteria — two globs that both match some card — are not detected.)
 */
function sameClaim(a: Registration, b: Registration): boolean {
  if (JSON.stringify(canonical(a.match)) !== JSON.stringify(canonical(b.match))) return false;
  if (!hasCriteria(a.match)) return a.kind === b.kind && a.module === b.module;
  return true;
}

function canonical(match: MatchCriteria): [string, string][] {
  return Object.entries(match).filter(([, v]) => v !== undefined).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)) as [string, string][];
}

/** A registration with its keys in the documented order: name, kind, module|plugin, match, priority, installedAt, installSequence. */
export function registrationJson(reg: Registration): Registration {
  return {
    name: reg.name,
    kind: reg.kind,
    ...(reg.module !== undefined ? { module: reg.module } : {}),
    ...(reg.plugin !== undefined ? { plugin: reg.plugin } : {}),
    match: reg.match,
    priority: reg.priority ?? 0,
    installedAt: reg.installedAt,
    installSequence: reg.installSequence,
  };
}

/** Registrations in precedence order (the registry's comparePrecedence), each with what it outranks. */
export function rankForListing(registrations: readonly Registration[]): ProviderJson[] {
  const sorted = [...registrations].sort(comparePrecedence);
  return sorted.map((reg, i) => {
    const losers = sorted.slice(i + 1).filter((other) => sameClaim(reg, other)).map((other) => other.name);
    return losers.length > 0 ? { ...registrationJson(reg), winsOver: losers } : registrationJson(reg);
  });
}

function target(reg: Registration): string {
  return reg.kind === 'minidriver' ? (reg.module ?? '') : (reg.plugin ?? '');
}

function summary(reg: Registration): string {
  return `${reg.kind} ${target(reg)}, match ${describeMatch(reg)}, priority ${reg.priority ?? 0}, installed ${reg.installedAt}`;
}

export async function providerAddCommand(name: string, options: ProviderAddOptions, out: Output): Promise<void> {
  if (options.module !== undefined && options.plugin !== undefined) throw new UsageError('give either --module or --plugin, not both');
  if (options.module === undefined && options.plugin === undefined) {
    throw new UsageError('give --module PATH (a PKCS#11 module) or --plugin PATH (a JavaScript provider module)');
  }
  if (options.atrMask !== undefined && options.atr === undefined) throw new UsageError('--atr-mask needs --atr');
  const match: MatchCriteria = {};
  for (const field of ['atr', 'atrMask', 'manufacturer', 'model', 'label', 'serial'] as const) {
    if (options[field] !== undefined) match[field] = options[field];
  }
  const input: RegistrationInput = options.module !== undefined
    ? { name, kind: 'minidriver', module: existingFile('--module', options.module), match }
    : { name, kind: 'plugin', plugin: existingFile('--plugin', options.plugin!), match };
  if (options.priority !== undefined) input.priority = options.priority;

  const store = openStore();
  // Only to say "replaced" rather than "added"; the registry itself decides under its lock.
  let replaced = false;
  if (options.replace) {
    try {
      replaced = (await store.get(name)) !== undefined;
    } catch {
      replaced = true; // a damaged file of that name is there and is about to be overwritten
    }
  }
  const reg = await store.add(input, { replace: options.replace === true });
  if (options.json) {
    out.document({ added: registrationJson(reg), replaced });
    return;
  }
  out.line(`${replaced ? 'Replaced' : 'Added'} provider "${reg.name}": ${summary(reg)}`);
}

export async function providerListCommand(options: ProviderListOptions, out: Output): Promise<void> {
  const store = openStore();
  const { registrations, problems } = await store.list();
  const providers = rankForListing(registrations);
  for (const p of problems) out.note(`skipped ${p.file}: ${p.error}`);
  if (options.json) {
    const document: ProvidersDocument = { schema: 'p11-ksp/providers/v1', providers, problems };
    out.document(document);
    return;
  }
  if (providers.length === 0) {
    out.line(`No providers registered in ${store.dir}`);
    return;
  }
  const header = ['NAME', 'KIND', 'MODULE/PLUGIN', 'MATCH', 'PRIORITY', 'INSTALLED AT'];
  const rows = providers.map((p) => [p.name, p.kind, target(p), describeMatch(p), String(p.priority ?? 0), p.installedAt]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  out.line(format(header));
  for (const row of rows) out.line(format(row));
  const shadowing = providers.filter((p) => p.winsOver);
  if (shadowing.length > 0) {
    out.line();
    for (const p of shadowing) out.line(`"${p.name}" wins over ${p.winsOver!.map((n) => `"${n}"`).join(', ')} (same cards, listed first)`);
  }
}

export async function providerRemoveCommand(name: string, options: ProviderRemoveOptions, out: Output): Promise<void> {
  const store = openStore();
  let registration: Registration | null = null;
  try {
    registration = (await store.get(name)) ?? null;
  } catch {
    // A damaged file must still be removable: remove() below deletes it by name.
  }
  await store.remove(name); // NTE_NOT_FOUND when there is none: exit code "not found"
  if (options.json) {
    out.document({ removed: name, registration: registration && registrationJson(registration) });
    return;
  }
  out.line(`Removed provider "${name}"${registration ? ` (${summary(registration)})` : ''}`);
}

export async function providerImportCommand(options: ProviderImportOptions, out: Output): Promise<void> {
  const store = openStore();
  const result = await importP11KitModules(store, { includeTrust: options.includeTrust === true, replace: options.replace === true });
  const imported: Registration[] = [];
  for (const name of result.added) {
    const reg = await store.get(name);
    if (reg) imported.push(reg);
  }
  for (const reg of imported) {
    if (reg.module !== undefined && !existsSync(reg.module)) out.note(`"${reg.name}": p11-kit names ${reg.module}, which is not installed`);
  }
  if (options.json) {
    out.document({ imported: imported.map(registrationJson), skipped: result.skipped });
    return;
  }
  if (imported.length === 0 && result.skipped.length === 0) {
    out.line('p11-kit configures no modules to import');
    return;
  }
  for (const reg of imported) out.line(`Imported "${reg.name}": ${summary(reg)}`);
  for (const name of result.skipped) out.line(`Skipped "${name}": already registered (use --replace to re-import)`);
  out.line(`${imported.length} imported, ${result.skipped.length} already registered`);
}
