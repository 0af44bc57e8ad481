/**
 * The smart card services both front ends stand on: readers and cards, the provider registry, card
 * selection with the UI seam, the PIN cache and the data caches.
 */
export { SmartCardService, type SmartCardServiceOptions, type CardStatus } from './service.js';
export { defaultSmartCardService, setDefaultSmartCardService, setSmartCardServiceFactory } from './default-service.js';
export { SmartCard, type CardContainer, type CardCaches } from './card.js';
export { parseContainerSpec, qualifiedContainerName, type ContainerSpec, type SpecLevel } from './container-spec.js';
export { selectCard, type Selection, type SelectionRequest } from './selection.js';
export { authenticate, presentPin, withAuthentication, pinCacheCard, assertCreateAllowed, type AuthenticationContext } from './authentication.js';
export {
  setUserInterface, getUserInterface, setCardPromptText, cardPromptText, Interaction, RESCAN_READER,
  type UserInterface, type CardPromptRequest, type CardPromptAnswer, type PinPromptRequest, type CardChoice, type CardPromptOperation,
} from './ui.js';
export { TerminalUserInterface, installTerminalUserInterface } from './terminal-ui.js';
export { PinCache } from './pin-cache.js';
export { DataCache, MemoryCacheBackend, type CacheBackend, type CacheItem } from './data-cache.js';
export { LmdbCacheBackend } from './global-cache-store.js';
export * from './readers/index.js';
export * from './registry/index.js';
