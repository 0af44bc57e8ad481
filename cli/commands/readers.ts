/**
 * `p11-ksp readers [--json] [--module PATH]`: the readers (PKCS#11 slots) of the embedded store, or of
 * any module, with the identity of the card (token) in each.
 *
 * Read-only on purpose: it lists, it does not open card contexts (a context on a fresh token would
 * create its card file system) and never asks for a PIN. With --module the process's SOFTHSM2_CONF is
 * left as the user set it, since that module is theirs, configured their way.
 */
import type { CardReaderState } from '../../minidriver/card-module.js';
import { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { prepareHome } from '../../home.js';
import type { ReaderJson, ReadersDocument } from '../json-schema.js';
import type { Output } from '../output.js';

export interface ReadersOptions {
  json?: boolean;
  module?: string;
}

function toJson(r: CardReaderState): ReaderJson {
  return { reader: r.szReader, cardPresent: r.cardPresent, initialised: r.card !== undefined, card: r.card ? { ...r.card } : null };
}

function describe(r: ReaderJson): string {
  if (!r.cardPresent) return 'no card';
  if (!r.card) return 'blank token (not initialised; `p11-ksp init` sets one up)';
  return `card "${r.card.label}"  serial ${r.card.serial}  ${r.card.manufacturer} / ${r.card.model}`;
}

export async function readersCommand(options: ReadersOptions, out: Output): Promise<void> {
  let modulePath: string;
  let home: string | undefined;
  if (options.module) {
    modulePath = options.module;
  } else {
    const store = prepareHome(process.env, (m) => out.note(m));
    modulePath = store.modulePath;
    home = store.home;
  }
  const driver = new Pkcs11Minidriver({ modulePath });
  let readers: ReaderJson[];
  try {
    readers = (await driver.listReaders()).map(toJson);
  } finally {
    await driver.close();
  }
  if (options.json) {
    const document: ReadersDocument = { schema: 'p11-ksp/readers/v1', module: modulePath, ...(home ? { home } : {}), readers };
    out.document(document);
    return;
  }
  out.line(`Module ${modulePath}${home ? ` (store ${home})` : ''}: ${readers.length} reader(s)`);
  const width = Math.max(0, ...readers.map((r) => r.reader.length));
  for (const r of readers) out.line(`  ${r.reader.padEnd(width)}  ${describe(r)}`);
}
