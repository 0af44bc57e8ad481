/**
 * The conformance suite's public entry: run it from code with runConformance(), read the result's
 * shape from the types. The CLI verb (`p11-ksp conformance run`) and the reports sit on top of this.
 */
// @peculiar/x509 (used by the areas) needs the reflect polyfill before its first import; this entry
// may be the first thing an application imports (minidriver/x509.ts explains the polyfill).
import 'reflect-metadata';

export * from './case.js';
export { runConformance, CASE_TIMEOUT_MS, SLOW_CASE_TIMEOUT_MS } from './runner.js';
export { ALL_AREAS } from './areas/index.js';
export { OWN_CONTAINER_PREFIX } from './context.js';
