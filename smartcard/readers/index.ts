/** Readers and cards: the reader list over every registered driver, status, insertion/removal events. */
export * from './reader-list.js';
export * from './events.js';
