import { type CardEntryPoint, type CardModule, ENTRY_POINT_VERSIONS } from './card-module.js';
import { CryptError } from './errors.js';

/**
 * Version negotiation as the specification describes it: below the driver's minimum the context is
 * refused with ERROR_REVISION_MISMATCH, otherwise both sides use min(requested, driver maximum).
 */
export function negotiateVersion(requested: number, driverMin: number, driverMax: number): number {
  if (!Number.isInteger(requested) || requested < driverMin) {
    throw new CryptError('ERROR_REVISION_MISMATCH', `CARD_DATA version ${requested} is below this driver's minimum ${driverMin}; ask for ${driverMin}..${driverMax}`, { operation: 'CardAcquireContext' });
  }
  return Math.min(requested, driverMax);
}

/**
 * Hides entry points above the negotiated version, as Windows leaves their CARD_DATA pointers NULL:
 * each becomes an own property that throws SCARD_E_UNSUPPORTED_FEATURE. Done once per context, so the
 * supported entry points pay nothing per call.
 */
export function hideEntryPointsAbove<T extends CardModule>(module: T, version: number): T {
  for (const [name, since] of Object.entries(ENTRY_POINT_VERSIONS) as [CardEntryPoint, number][]) {
    if (since > version) {
      Object.defineProperty(module, name, {
        value: () => Promise.reject(new CryptError('SCARD_E_UNSUPPORTED_FEATURE', `${name} needs CARD_DATA version ${since}; this context negotiated version ${version}`, { operation: name })),
        configurable: true,
        writable: true,
      });
    }
  }
  return module;
}
