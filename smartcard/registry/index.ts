/** The provider registry: which minidriver or plug-in serves a card, persisted under P11KSP_HOME. */
export * from './registration.js';
export * from './matching.js';
export * from './store.js';
export * from './p11kit.js';
