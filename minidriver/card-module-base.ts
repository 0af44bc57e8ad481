import type { CardEntryPoint, CardModule } from './card-module.js';
import { CryptError } from './errors.js';
import type {
  CardCapabilities, CardDeriveKey, CardDhAgreementInfo, CardFileInfo, CardFreeSpaceInfo, CardKeySizes,
  CardPropertyName, CardPropertyValues, CardRsaDecryptInfo, CardSigningInfo, ContainerInfo,
  ContainerPropertyName, ContainerPropertyValues,
} from './structures.js';

/**
 * A CardModule in which every entry point answers SCARD_E_UNSUPPORTED_FEATURE. Drivers extend it and
 * override what their card can do, so "not supported" is always an explicit, typed answer and never a
 * silent success.
 */
export abstract class CardModuleBase implements CardModule {
  abstract readonly dwVersion: number;

  /** Names the card in error messages. */
  protected abstract readonly cardName: string;

  protected unsupported(entryPoint: CardEntryPoint, why = 'this card or driver does not offer it'): Promise<never> {
    return Promise.reject(new CryptError('SCARD_E_UNSUPPORTED_FEATURE', why, { operation: entryPoint, card: this.cardName }));
  }

  CardDeleteContext(): Promise<void> { return this.unsupported('CardDeleteContext'); }
  CardQueryCapabilities(): Promise<CardCapabilities> { return this.unsupported('CardQueryCapabilities'); }
  CardDeleteContainer(_i: number, _r?: number): Promise<void> { return this.unsupported('CardDeleteContainer'); }
  CardCreateContainer(_i: number, _f: number, _s: number, _b: number, _d?: Uint8Array | null): Promise<void> { return this.unsupported('CardCreateContainer'); }
  CardGetContainerInfo(_i: number, _f?: number): Promise<ContainerInfo> { return this.unsupported('CardGetContainerInfo'); }
  CardAuthenticatePin(_u: string, _p: Uint8Array): Promise<void> { return this.unsupported('CardAuthenticatePin'); }
  CardGetChallenge(): Promise<Buffer> { return this.unsupported('CardGetChallenge'); }
  CardAuthenticateChallenge(_r: Uint8Array): Promise<void> { return this.unsupported('CardAuthenticateChallenge'); }
  CardUnblockPin(_u: string, _a: Uint8Array, _n: Uint8Array, _c: number, _f: number): Promise<void> { return this.unsupported('CardUnblockPin'); }
  CardChangeAuthenticator(_u: string, _o: Uint8Array, _n: Uint8Array, _c: number, _f: number): Promise<void> { return this.unsupported('CardChangeAuthenticator'); }
  CardDeauthenticate(_u: string, _f?: number): Promise<void> { return this.unsupported('CardDeauthenticate'); }
  CardCreateDirectory(_d: string, _ac: number): Promise<void> { return this.unsupported('CardCreateDirectory'); }
  CardDeleteDirectory(_d: string): Promise<void> { return this.unsupported('CardDeleteDirectory'); }
  CardCreateFile(_d: string | null, _n: string, _s: number, _ac: number): Promise<void> { return this.unsupported('CardCreateFile'); }
  CardReadFile(_d: string | null, _n: string, _f?: number): Promise<Buffer> { return this.unsupported('CardReadFile'); }
  CardWriteFile(_d: string | null, _n: string, _f: number, _b: Uint8Array): Promise<void> { return this.unsupported('CardWriteFile'); }
  CardDeleteFile(_d: string | null, _n: string, _f?: number): Promise<void> { return this.unsupported('CardDeleteFile'); }
  CardEnumFiles(_d: string | null, _f?: number): Promise<string[]> { return this.unsupported('CardEnumFiles'); }
  CardGetFileInfo(_d: string | null, _n: string): Promise<CardFileInfo> { return this.unsupported('CardGetFileInfo'); }
  CardQueryFreeSpace(_f?: number): Promise<CardFreeSpaceInfo> { return this.unsupported('CardQueryFreeSpace'); }
  CardQueryKeySizes(_s: number, _f?: number): Promise<CardKeySizes> { return this.unsupported('CardQueryKeySizes'); }
  CardSignData(_i: CardSigningInfo): Promise<Buffer> { return this.unsupported('CardSignData'); }
  CardRSADecrypt(_i: CardRsaDecryptInfo): Promise<Buffer> { return this.unsupported('CardRSADecrypt'); }
  CardConstructDHAgreement(_i: CardDhAgreementInfo): Promise<number> { return this.unsupported('CardConstructDHAgreement'); }
  CardDeriveKey(_i: CardDeriveKey): Promise<Buffer> { return this.unsupported('CardDeriveKey'); }
  CardDestroyDHAgreement(_i: number, _f?: number): Promise<void> { return this.unsupported('CardDestroyDHAgreement'); }
  CardGetChallengeEx(_p: number, _f?: number): Promise<Buffer> { return this.unsupported('CardGetChallengeEx'); }
  CardAuthenticateEx(_p: number, _f: number, _d: Uint8Array | null): Promise<Buffer | null> { return this.unsupported('CardAuthenticateEx'); }
  CardChangeAuthenticatorEx(_f: number, _ap: number, _ad: Uint8Array, _tp: number, _td: Uint8Array, _c: number): Promise<void> { return this.unsupported('CardChangeAuthenticatorEx'); }
  CardDeauthenticateEx(_p: number, _f?: number): Promise<void> { return this.unsupported('CardDeauthenticateEx'); }
  CardGetContainerProperty<K extends ContainerPropertyName>(_i: number, _n: K, _f?: number): Promise<ContainerPropertyValues[K]> { return this.unsupported('CardGetContainerProperty'); }
  CardSetContainerProperty<K extends ContainerPropertyName>(_i: number, _n: K, _v: ContainerPropertyValues[K], _f?: number): Promise<void> { return this.unsupported('CardSetContainerProperty'); }
  CardGetProperty<K extends CardPropertyName>(_n: K, _f?: number): Promise<CardPropertyValues[K]> { return this.unsupported('CardGetProperty'); }
  CardSetProperty<K extends CardPropertyName>(_n: K, _v: CardPropertyValues[K], _f?: number): Promise<void> { return this.unsupported('CardSetProperty'); }
  CardCreateContainerEx(_i: number, _f: number, _s: number, _b: number, _d: Uint8Array | null, _p: number): Promise<void> { return this.unsupported('CardCreateContainerEx'); }
  MDImportSessionKey(_t: string, _a: string, _i: Uint8Array): Promise<number> { return this.unsupported('MDImportSessionKey'); }
  MDEncryptData(_k: number, _s: string, _i: Uint8Array, _f: number): Promise<Buffer[]> { return this.unsupported('MDEncryptData'); }
  CardImportSessionKey(_c: number, _p: unknown, _t: string, _a: string, _i: Uint8Array, _f: number): Promise<number> { return this.unsupported('CardImportSessionKey'); }
  CardGetSharedKeyHandle(_i: Uint8Array, _f: number): Promise<{ hKey: number; output: Buffer }> { return this.unsupported('CardGetSharedKeyHandle'); }
  CardGetAlgorithmProperty(_a: string, _p: string, _f: number): Promise<Buffer> { return this.unsupported('CardGetAlgorithmProperty'); }
  CardGetKeyProperty(_k: number, _p: string, _f: number): Promise<Buffer> { return this.unsupported('CardGetKeyProperty'); }
  CardSetKeyProperty(_k: number, _p: string, _i: Uint8Array, _f: number): Promise<void> { return this.unsupported('CardSetKeyProperty'); }
  CardDestroyKey(_k: number): Promise<void> { return this.unsupported('CardDestroyKey'); }
  CardProcessEncryptedData(_k: number, _s: string, _e: Buffer[], _f: number): Promise<Buffer> { return this.unsupported('CardProcessEncryptedData'); }
}
