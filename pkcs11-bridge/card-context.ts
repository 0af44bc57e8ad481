import { CardModuleBase } from '../minidriver/card-module-base.js';
import type { CardEntryPoint } from '../minidriver/card-module.js';
import { CryptError } from '../minidriver/errors.js';
import type {
  CardCapabilities, CardDeriveKey, CardDhAgreementInfo, CardFileInfo, CardFreeSpaceInfo, CardKeySizes,
  CardPropertyName, CardPropertyValues, CardRsaDecryptInfo, CardSigningInfo, ContainerInfo, ContainerPropertyName,
  ContainerPropertyValues,
} from '../minidriver/structures.js';
import type { CardBinding } from './card-binding.js';
import type { CardState } from './card-state.js';
import { cardConstructDHAgreement, cardDeriveKey, cardDestroyDHAgreement } from './context-agreement.js';
import { cardCreateContainer, cardDeleteContainer, cardGetContainerInfo } from './context-containers.js';
import { type CardContextCore, checkFlags } from './context-core.js';
import { cardRsaDecrypt, cardSignData } from './context-crypto.js';
import {
  cardCreateDirectory, cardCreateFile, cardDeleteDirectory, cardDeleteFile, cardEnumFiles, cardGetFileInfo, cardReadFile, cardWriteFile,
} from './context-files.js';
import {
  cardAuthenticateEx, cardAuthenticatePin, cardChangeAuthenticator, cardChangeAuthenticatorEx, cardDeauthenticate,
  cardDeauthenticateEx, cardUnblockPin,
} from './context-pins.js';
import {
  capabilities, cardGetContainerProperty, cardGetProperty, cardSetProperty, freeSpace, keySizesFor, type SettableProperties,
} from './context-properties.js';
import type { Token } from './token.js';

/**
 * A card context over a PKCS#11 token: the minidriver contract's entry points, each delegating to the
 * module that holds its concern (containers, crypto, files, PINs, properties, agreements). What the
 * token cannot do stays SCARD_E_UNSUPPORTED_FEATURE from CardModuleBase: CardGetChallenge,
 * CardAuthenticateChallenge, CardGetChallengeEx, CardSetContainerProperty and the v7 key-injection calls.
 */
export class Pkcs11CardContext extends CardModuleBase implements CardContextCore {
  readonly agreements = new Map<number, Buffer>();
  private readonly settable: SettableProperties = new Map();
  readonly state: CardState;
  private deleted = false;

  /** `binding` is the driver's hold on the card: the driver ends it on close or card removal. */
  constructor(private readonly binding: CardBinding, readonly dwVersion: number) {
    super();
    this.state = binding.state;
  }

  protected get cardName(): string {
    return this.state.name;
  }

  get token(): Token {
    return this.state.token;
  }

  /** Object searches and writes go one at a time per token (see Token.exclusive). */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.state.token.exclusive(work);
  }

  assertOpen(operation: string): void {
    if (this.deleted) throw new CryptError('SCARD_E_INVALID_HANDLE', 'this card context was deleted; acquire a new one', { operation, card: this.state.name });
    this.binding.assertBound(operation);
  }

  /** Entry points the token cannot serve still say first that the context or its card is gone. */
  protected override unsupported(entryPoint: CardEntryPoint, why?: string): Promise<never> {
    try {
      this.assertOpen(entryPoint);
    } catch (err) {
      return Promise.reject(err);
    }
    return super.unsupported(entryPoint, why);
  }

  /** Succeeds on a removed card too (Windows deletes contexts of cards that are gone), and twice. */
  override async CardDeleteContext(): Promise<void> {
    if (this.deleted) return;
    this.deleted = true;
    for (const secret of this.agreements.values()) secret.fill(0);
    this.agreements.clear();
  }

  override async CardQueryCapabilities(): Promise<CardCapabilities> {
    this.assertOpen('CardQueryCapabilities');
    return capabilities(this);
  }

  override async CardQueryFreeSpace(flags?: number): Promise<CardFreeSpaceInfo> {
    this.assertOpen('CardQueryFreeSpace');
    checkFlags(flags, 0, 'CardQueryFreeSpace');
    return freeSpace(this);
  }

  override async CardQueryKeySizes(keySpec: number, flags?: number): Promise<CardKeySizes> {
    this.assertOpen('CardQueryKeySizes');
    checkFlags(flags, 0, 'CardQueryKeySizes');
    return keySizesFor(this, keySpec);
  }

  override CardCreateContainer(index: number, flags: number, keySpec: number, keySize: number, keyData?: Uint8Array | null): Promise<void> {
    return this.exclusive(() => cardCreateContainer(this, index, flags, keySpec, keySize, keyData));
  }

  override CardCreateContainerEx(index: number, flags: number, keySpec: number, keySize: number, keyData: Uint8Array | null, pinId: number): Promise<void> {
    // Every key of a PKCS#11 token is behind the one user PIN.
    if (pinId !== 1) return Promise.reject(new CryptError('SCARD_E_UNSUPPORTED_FEATURE', 'keys can only be bound to ROLE_USER on a PKCS#11 token', { operation: 'CardCreateContainerEx', card: this.state.name }));
    return this.exclusive(() => cardCreateContainer(this, index, flags, keySpec, keySize, keyData));
  }

  override CardDeleteContainer(index: number, reserved?: number): Promise<void> { return this.exclusive(() => cardDeleteContainer(this, index, reserved)); }
  override CardGetContainerInfo(index: number, flags?: number): Promise<ContainerInfo> { return this.exclusive(() => cardGetContainerInfo(this, index, flags)); }
  override CardSignData(info: CardSigningInfo): Promise<Buffer> {
    try { return cardSignData(this, info); } catch (err) { return Promise.reject(err); }
  }
  override CardRSADecrypt(info: CardRsaDecryptInfo): Promise<Buffer> {
    try { return cardRsaDecrypt(this, info); } catch (err) { return Promise.reject(err); }
  }
  override CardConstructDHAgreement(info: CardDhAgreementInfo): Promise<number> { return this.exclusive(() => cardConstructDHAgreement(this, info)); }
  override CardDeriveKey(info: CardDeriveKey): Promise<Buffer> { return cardDeriveKey(this, info); }
  override CardDestroyDHAgreement(index: number, flags?: number): Promise<void> { return cardDestroyDHAgreement(this, index, flags); }

  override CardAuthenticatePin(userId: string, pin: Uint8Array): Promise<void> { return this.exclusive(() => cardAuthenticatePin(this, userId, pin)); }
  override CardAuthenticateEx(pinId: number, flags: number, pin: Uint8Array | null): Promise<Buffer | null> { return this.exclusive(() => cardAuthenticateEx(this, pinId, flags, pin)); }
  override CardDeauthenticate(userId: string, flags?: number): Promise<void> { return this.exclusive(() => cardDeauthenticate(this, userId, flags)); }
  override CardDeauthenticateEx(pinSet: number, flags?: number): Promise<void> { return this.exclusive(() => cardDeauthenticateEx(this, pinSet, flags)); }
  override CardChangeAuthenticator(userId: string, current: Uint8Array, next: Uint8Array, retryCount: number, flags: number): Promise<void> {
    return this.exclusive(() => cardChangeAuthenticator(this, userId, current, next, retryCount, flags));
  }
  override CardChangeAuthenticatorEx(flags: number, authPinId: number, authData: Uint8Array, targetPinId: number, targetData: Uint8Array, retryCount: number): Promise<void> {
    return this.exclusive(() => cardChangeAuthenticatorEx(this, flags, authPinId, authData, targetPinId, targetData, retryCount));
  }
  override CardUnblockPin(userId: string, authData: Uint8Array, newPin: Uint8Array, retryCount: number, flags: number): Promise<void> {
    return this.exclusive(() => cardUnblockPin(this, userId, authData, newPin, retryCount, flags));
  }

  override CardCreateDirectory(dir: string, ac: number): Promise<void> { return this.exclusive(() => cardCreateDirectory(this, dir, ac)); }
  override CardDeleteDirectory(dir: string): Promise<void> { return this.exclusive(() => cardDeleteDirectory(this, dir)); }
  override CardCreateFile(dir: string | null, name: string, size: number, ac: number): Promise<void> { return this.exclusive(() => cardCreateFile(this, dir, name, size, ac)); }
  override CardReadFile(dir: string | null, name: string, flags?: number): Promise<Buffer> { return this.exclusive(() => cardReadFile(this, dir, name, flags)); }
  override CardWriteFile(dir: string | null, name: string, flags: number, data: Uint8Array): Promise<void> { return this.exclusive(() => cardWriteFile(this, dir, name, flags, data)); }
  override CardDeleteFile(dir: string | null, name: string, flags?: number): Promise<void> { return this.exclusive(() => cardDeleteFile(this, dir, name, flags)); }
  override CardEnumFiles(dir: string | null, flags?: number): Promise<string[]> { return this.exclusive(() => cardEnumFiles(this, dir, flags)); }
  override CardGetFileInfo(dir: string | null, name: string): Promise<CardFileInfo> { return this.exclusive(() => cardGetFileInfo(this, dir, name)); }

  override CardGetProperty<K extends CardPropertyName>(name: K, flags?: number): Promise<CardPropertyValues[K]> { return cardGetProperty(this, name, flags); }
  override CardSetProperty<K extends CardPropertyName>(name: K, value: CardPropertyValues[K], flags?: number): Promise<void> {
    return cardSetProperty(this, this.settable, name, value, flags);
  }
  override CardGetContainerProperty<K extends ContainerPropertyName>(index: number, name: K, flags?: number): Promise<ContainerPropertyValues[K]> {
    return this.exclusive(() => cardGetContainerProperty(this, index, name, flags));
  }
}
