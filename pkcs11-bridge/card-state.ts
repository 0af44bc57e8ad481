import { randomBytes } from 'node:crypto';
import {
  CARD_CACHE_CONTAINERS, EveryoneReadAdminWriteAc, EveryoneReadUserWriteAc, UserCreateDeleteDirAc,
} from '../minidriver/constants.js';
import {
  bumpCardCf, cardIdFromSerial, type ContainerMapRecord, decodeCardCf, decodeCmapFile, encodeCardCf,
  encodeCmapFile, newCardCf,
} from '../minidriver/codecs/index.js';
import { type ContainerSlots, reconcileContainerMap } from './container-map.js';
import { TokenFileStore } from './card-files.js';
import { discoverKeyPairs } from './key-pairs.js';
import { ckrOf, pk, type Pkcs11Handle } from './pkcs11.js';
import { isStaleHandle } from './errors.js';
import type { Token } from './token.js';

/** The files every card has (reference §5), with their access conditions and initial content. */
export const MANDATORY_FILES: readonly { path: string; ac: number; initial: () => Buffer }[] = [
  { path: 'cardid', ac: EveryoneReadAdminWriteAc, initial: () => randomBytes(16) },
  { path: 'cardcf', ac: EveryoneReadUserWriteAc, initial: () => encodeCardCf(newCardCf()) },
  { path: 'cardapps', ac: EveryoneReadAdminWriteAc, initial: () => Buffer.from('mscp\0\0\0\0', 'latin1') },
  { path: 'mscp/', ac: UserCreateDeleteDirAc, initial: () => Buffer.alloc(0) },
  { path: 'mscp/cmapfile', ac: EveryoneReadUserWriteAc, initial: () => Buffer.alloc(0) },
];

/** Token refusals that mean "this token will not hold our file system": it is treated as read-only. */
const READ_ONLY_REFUSALS = new Set<number>([
  pk.CKR_TOKEN_WRITE_PROTECTED, pk.CKR_FUNCTION_NOT_SUPPORTED, pk.CKR_TEMPLATE_INCONSISTENT,
  pk.CKR_ATTRIBUTE_TYPE_INVALID, pk.CKR_ATTRIBUTE_VALUE_INVALID, pk.CKR_DEVICE_MEMORY, pk.CKR_SESSION_READ_ONLY,
]);

/**
 * What all card contexts bound to one token share in this process: the token, its file store, and the
 * container map with the keys behind each container. The card file system is created on first use;
 * where the token refuses data objects it is synthesised from the keys and the card is read-only.
 */
export class CardState {
  readonly files: TokenFileStore;
  readOnly: boolean;
  /** Synthesised files of a read-only card (cardid, cardcf, cardapps, cmapfile). */
  private readonly synthetic = new Map<string, Buffer>();
  records: (ContainerMapRecord | null)[] = [];
  containers = new Map<number, ContainerSlots>();

  constructor(readonly token: Token, readonly maxContainers: number) {
    this.files = new TokenFileStore(token);
    this.readOnly = (token.flags & pk.CKF_WRITE_PROTECTED) !== 0;
  }

  get name(): string {
    return this.token.name;
  }

  /** Creates the mandatory files on a fresh token (or decides the card is read-only). */
  initialise(session: Pkcs11Handle): void {
    if (!this.readOnly) {
      try {
        for (const f of MANDATORY_FILES) {
          if (!this.files.lookup(session, f.path)) this.files.create(session, f.path, f.ac, f.initial());
        }
      } catch (err) {
        const rv = ckrOf(err);
        if (rv === undefined || !READ_ONLY_REFUSALS.has(rv)) throw err;
        this.readOnly = true;
      }
    }
    if (this.readOnly) {
      this.synthetic.set('cardid', cardIdFromSerial(this.token.identity.serial || this.token.identity.label));
      this.synthetic.set('cardcf', encodeCardCf(newCardCf()));
      this.synthetic.set('cardapps', Buffer.from('mscp\0\0\0\0', 'latin1'));
    }
    this.reconcile(session);
  }

  /** The 16-byte card identifier (cardid), the key of every cache of this card. */
  cardId(): Buffer {
    const synthetic = this.synthetic.get('cardid');
    if (synthetic) return Buffer.from(synthetic);
    return this.token.sync('CardGetProperty', (s) => {
      const f = this.files.lookup(s, 'cardid');
      return f ? this.files.read(s, f) : Buffer.alloc(16);
    });
  }

  /** Content of a synthesised file of a read-only card, if it is one. */
  syntheticFile(path: string): Buffer | undefined {
    if (path === 'mscp/cmapfile' && this.readOnly) return encodeCmapFile(this.records);
    return this.synthetic.get(path);
  }

  /** Re-reads the cmapfile, matches it against the keys on the token, and writes back what changed. */
  reconcile(session: Pkcs11Handle): void {
    try {
      this.reconcileOnce(session);
    } catch (err) {
      // Another process replaced the cmapfile or deleted a key between our search and our read.
      if (!isStaleHandle(ckrOf(err))) throw err;
      this.reconcileOnce(session);
    }
  }

  private reconcileOnce(session: Pkcs11Handle): void {
    const cmap = this.readOnly ? undefined : this.files.lookup(session, 'mscp/cmapfile');
    const current = cmap ? this.decodeOrRebuild(this.files.read(session, cmap)) : this.records;
    const pairs = discoverKeyPairs(this.token, session);
    const completeView = this.token.login === 'user' || (this.token.flags & pk.CKF_LOGIN_REQUIRED) === 0;
    const result = reconcileContainerMap(current, pairs, this.token.identity.serial, completeView, this.maxContainers);
    this.records = result.records;
    this.containers = result.keys;
    if (result.changed && cmap) {
      this.files.write(session, cmap, encodeCmapFile(result.records));
      // Changed behind every cache's back (keys added or removed by another tool): tell the caches.
      this.bumpFreshness(session, CARD_CACHE_CONTAINERS);
    }
  }

  /** A cmapfile that is not a container map (written by a faulty tool) is rebuilt from the keys. */
  private decodeOrRebuild(bytes: Buffer): (ContainerMapRecord | null)[] {
    try {
      return decodeCmapFile(bytes);
    } catch {
      return [];
    }
  }

  /** Increments a cardcf freshness counter on the token. */
  bumpFreshness(session: Pkcs11Handle, mask: number): void {
    const cf = this.files.lookup(session, 'cardcf');
    if (!cf) return;
    this.files.write(session, cf, encodeCardCf(bumpCardCf(decodeCardCf(this.files.read(session, cf)), mask)));
  }

  /** Forgets private-key handles (after logout they are invalid). */
  forgetPrivateHandles(): void {
    for (const keys of this.containers.values()) {
      for (const pair of [keys.sig, keys.keyx]) {
        if (pair) pair.privateHandle = undefined;
      }
    }
  }
}
