import type {
  CardCapabilities,
  CardData,
  CardDeriveKey,
  CardDhAgreementInfo,
  CardFileInfo,
  CardFreeSpaceInfo,
  CardKeySizes,
  CardPropertyName,
  CardPropertyValues,
  CardRsaDecryptInfo,
  CardSigningInfo,
  ContainerInfo,
  ContainerPropertyName,
  ContainerPropertyValues,
} from './structures.js';

/**
 * The card minidriver contract (specification v7): every entry point of CARD_DATA's function table
 * as a method. One object per card context, obtained from CardMinidriver.CardAcquireContext.
 *
 * Conventions: out-parameters become results; driver-allocated buffers come back as Buffers; a failure
 * throws CryptError with the SCARD_* (or ERROR_*) code the specification names. PIN failures carry
 * `attemptsRemaining`. Entry points a driver does not support, or that lie above the negotiated
 * version, throw SCARD_E_UNSUPPORTED_FEATURE.
 */
export interface CardModule {
  /** The negotiated version, min(requested, the driver's maximum); fixed for the context's life. */
  readonly dwVersion: number;

  // --- version 4 ---
  CardDeleteContext(): Promise<void>;
  CardQueryCapabilities(): Promise<CardCapabilities>;
  CardDeleteContainer(bContainerIndex: number, dwReserved?: number): Promise<void>;
  CardCreateContainer(bContainerIndex: number, dwFlags: number, dwKeySpec: number, dwKeySize: number, pbKeyData?: Uint8Array | null): Promise<void>;
  CardGetContainerInfo(bContainerIndex: number, dwFlags?: number): Promise<ContainerInfo>;
  CardAuthenticatePin(pwszUserId: string, pbPin: Uint8Array): Promise<void>;
  CardGetChallenge(): Promise<Buffer>;
  CardAuthenticateChallenge(pbResponseData: Uint8Array): Promise<void>;
  CardUnblockPin(pwszUserId: string, pbAuthenticationData: Uint8Array, pbNewPinData: Uint8Array, cRetryCount: number, dwFlags: number): Promise<void>;
  CardChangeAuthenticator(pwszUserId: string, pbCurrentAuthenticator: Uint8Array, pbNewAuthenticator: Uint8Array, cRetryCount: number, dwFlags: number): Promise<void>;
  CardDeauthenticate(pwszUserId: string, dwFlags?: number): Promise<void>;
  CardCreateDirectory(pszDirectoryName: string, AccessCondition: number): Promise<void>;
  CardDeleteDirectory(pszDirectoryName: string): Promise<void>;
  CardCreateFile(pszDirectoryName: string | null, pszFileName: string, cbInitialCreationSize: number, AccessCondition: number): Promise<void>;
  CardReadFile(pszDirectoryName: string | null, pszFileName: string, dwFlags?: number): Promise<Buffer>;
  CardWriteFile(pszDirectoryName: string | null, pszFileName: string, dwFlags: number, pbData: Uint8Array): Promise<void>;
  CardDeleteFile(pszDirectoryName: string | null, pszFileName: string, dwFlags?: number): Promise<void>;
  CardEnumFiles(pszDirectoryName: string | null, dwFlags?: number): Promise<string[]>;
  CardGetFileInfo(pszDirectoryName: string | null, pszFileName: string): Promise<CardFileInfo>;
  CardQueryFreeSpace(dwFlags?: number): Promise<CardFreeSpaceInfo>;
  CardQueryKeySizes(dwKeySpec: number, dwFlags?: number): Promise<CardKeySizes>;
  CardSignData(pInfo: CardSigningInfo): Promise<Buffer>;
  CardRSADecrypt(pInfo: CardRsaDecryptInfo): Promise<Buffer>;
  /** Returns the agreement index (bSecretAgreementIndex). */
  CardConstructDHAgreement(pAgreementInfo: CardDhAgreementInfo): Promise<number>;

  // --- version 5 ---
  CardDeriveKey(pAgreementInfo: CardDeriveKey): Promise<Buffer>;
  CardDestroyDHAgreement(bSecretAgreementIndex: number, dwFlags?: number): Promise<void>;

  // --- version 6 ---
  CardGetChallengeEx(PinId: number, dwFlags?: number): Promise<Buffer>;
  /** Returns the session PIN when CARD_AUTHENTICATE_GENERATE_SESSION_PIN was asked for, else null. */
  CardAuthenticateEx(PinId: number, dwFlags: number, pbPinData: Uint8Array | null): Promise<Buffer | null>;
  CardChangeAuthenticatorEx(dwFlags: number, dwAuthenticatingPinId: number, pbAuthenticatingPinData: Uint8Array, dwTargetPinId: number, pbTargetData: Uint8Array, cRetryCount: number): Promise<void>;
  CardDeauthenticateEx(PinId: number, dwFlags?: number): Promise<void>;
  CardGetContainerProperty<K extends ContainerPropertyName>(bContainerIndex: number, wszProperty: K, dwFlags?: number): Promise<ContainerPropertyValues[K]>;
  CardSetContainerProperty<K extends ContainerPropertyName>(bContainerIndex: number, wszProperty: K, value: ContainerPropertyValues[K], dwFlags?: number): Promise<void>;
  CardGetProperty<K extends CardPropertyName>(wszProperty: K, dwFlags?: number): Promise<CardPropertyValues[K]>;
  CardSetProperty<K extends CardPropertyName>(wszProperty: K, value: CardPropertyValues[K], dwFlags?: number): Promise<void>;

  // --- version 7 (secure key injection and on-card symmetric keys) ---
  CardCreateContainerEx(bContainerIndex: number, dwFlags: number, dwKeySpec: number, dwKeySize: number, pbKeyData: Uint8Array | null, PinId: number): Promise<void>;
  MDImportSessionKey(pwszBlobType: string, pwszAlgId: string, pbInput: Uint8Array): Promise<number>;
  MDEncryptData(hKey: number, pwszSecureFunction: string, pbInput: Uint8Array, dwFlags: number): Promise<Buffer[]>;
  CardImportSessionKey(bContainerIndex: number, pPaddingInfo: unknown, pwszBlobType: string, pwszAlgId: string, pbInput: Uint8Array, dwFlags: number): Promise<number>;
  CardGetSharedKeyHandle(pbInput: Uint8Array, dwFlags: number): Promise<{ hKey: number; output: Buffer }>;
  CardGetAlgorithmProperty(pwszAlgId: string, pwszProperty: string, dwFlags: number): Promise<Buffer>;
  CardGetKeyProperty(hKey: number, pwszProperty: string, dwFlags: number): Promise<Buffer>;
  CardSetKeyProperty(hKey: number, pwszProperty: string, pbInput: Uint8Array, dwFlags: number): Promise<void>;
  CardDestroyKey(hKey: number): Promise<void>;
  CardProcessEncryptedData(hKey: number, pwszSecureFunction: string, encryptedData: Buffer[], dwFlags: number): Promise<Buffer>;
}

export type CardEntryPoint = Exclude<keyof CardModule, 'dwVersion'>;

/** The CARD_DATA version that introduced each entry point (reference §2). */
export const ENTRY_POINT_VERSIONS: Readonly<Record<CardEntryPoint, number>> = {
  CardDeleteContext: 4,
  CardQueryCapabilities: 4,
  CardDeleteContainer: 4,
  CardCreateContainer: 4,
  CardGetContainerInfo: 4,
  CardAuthenticatePin: 4,
  CardGetChallenge: 4,
  CardAuthenticateChallenge: 4,
  CardUnblockPin: 4,
  CardChangeAuthenticator: 4,
  CardDeauthenticate: 4,
  CardCreateDirectory: 4,
  CardDeleteDirectory: 4,
  CardCreateFile: 4,
  CardReadFile: 4,
  CardWriteFile: 4,
  CardDeleteFile: 4,
  CardEnumFiles: 4,
  CardGetFileInfo: 4,
  CardQueryFreeSpace: 4,
  CardQueryKeySizes: 4,
  CardSignData: 4,
  CardRSADecrypt: 4,
  CardConstructDHAgreement: 4,
  CardDeriveKey: 5,
  CardDestroyDHAgreement: 5,
  CardGetChallengeEx: 6,
  CardAuthenticateEx: 6,
  CardChangeAuthenticatorEx: 6,
  CardDeauthenticateEx: 6,
  CardGetContainerProperty: 6,
  CardSetContainerProperty: 6,
  CardGetProperty: 6,
  CardSetProperty: 6,
  CardCreateContainerEx: 7,
  MDImportSessionKey: 7,
  MDEncryptData: 7,
  CardImportSessionKey: 7,
  CardGetSharedKeyHandle: 7,
  CardGetAlgorithmProperty: 7,
  CardGetKeyProperty: 7,
  CardSetKeyProperty: 7,
  CardDestroyKey: 7,
  CardProcessEncryptedData: 7,
};

/** What a reader reports about itself and the card in it. */
export interface CardReaderState {
  /** Reader name as applications see it (`\\.\<reader>\<container>` uses it). */
  szReader: string;
  cardPresent: boolean;
  /** Cards come and go in this reader (PKCS#11 CKF_REMOVABLE_DEVICE); false for an HSM's fixed slots. */
  removable?: boolean;
  /** The card's ATR, where the reader has one (PKCS#11 tokens usually do not). */
  atr?: Buffer;
  /** Identity of the card in the reader, for registry matching and selection. */
  card?: { label: string; serial: string; manufacturer: string; model: string };
  /** The handle to put in CardData.hScard to bind a context to this card. */
  hScard?: unknown;
}

/**
 * A card minidriver: what a registration names. The only required export of a Windows minidriver is
 * CardAcquireContext; drivers here also list the readers (slots) they reach, as PC/SC would.
 */
export interface CardMinidriver {
  readonly name: string;
  listReaders(): Promise<CardReaderState[]>;
  CardAcquireContext(pCardData: CardData, dwFlags?: number): Promise<CardModule>;
  /**
   * The card left its reader: drop whatever the driver keeps for it (sessions, login state, cached
   * container map). Contexts already acquired on it then fail with SCARD_W_REMOVED_CARD instead of
   * using state of a card that is gone, and a context acquired after reinsertion starts afresh.
   * Releasing a card the driver does not know is a no-op. Optional: a driver that keeps nothing per
   * card (every call goes to the card) has nothing to drop.
   */
  releaseCard?(card: { label: string; serial: string }): Promise<void>;
}
