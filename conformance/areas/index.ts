/**
 * Every area of the suite, in AREAS order: what the runner offers (`--areas`) and the report's rows.
 */
import { AREAS, type ConformanceArea } from '../case.js';
import { cngArea } from './cng.js';
import { cryptoapiArea } from './cryptoapi.js';
import { interopArea } from './interop.js';
import { minidriverArea } from './minidriver.js';

const BY_ID = { minidriver: minidriverArea, cng: cngArea, cryptoapi: cryptoapiArea, interop: interopArea } as const;

export const ALL_AREAS: readonly ConformanceArea[] = AREAS.map((id) => BY_ID[id]);
