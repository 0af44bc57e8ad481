/**
 * The minidriver area: every Card* entry point of the contract (minidriver/card-module.ts) with its
 * error rules, through a fresh card context per case (ctx.cardModule()). The cases live by concern in
 * minidriver-*.ts; this file only orders them: reads first, then the cases that use one PIN try, then
 * the destructive ones, the PIN lockout last of all (it leaves the user PIN blocked).
 */
import type { ConformanceArea } from '../case.js';
import { minidriverContainerCases } from './minidriver-crypto.js';
import { minidriverFileCases } from './minidriver-files.js';
import { minidriverOwnCases } from './minidriver-own.js';
import { minidriverPinCases } from './minidriver-pins.js';
import { minidriverContextCases, minidriverPropertyCases } from './minidriver-properties.js';

export const minidriverArea: ConformanceArea = {
  id: 'minidriver',
  title: 'Card minidriver contract (Card* entry points and their error rules)',
  cases: [
    ...minidriverContextCases,
    ...minidriverPropertyCases,
    ...minidriverFileCases,
    ...minidriverContainerCases,
    ...minidriverPinCases,
    ...minidriverOwnCases,
  ],
};
