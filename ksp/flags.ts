import { CryptError } from '../minidriver/errors.js';

/** Unknown flag bits → NTE_BAD_FLAGS, checked before anything else (reference N4). */
export function checkFlags(flags: number | undefined, allowed: number, operation: string): number {
  const f = flags ?? 0;
  if (!Number.isInteger(f) || f < 0 || f > 0xffffffff) throw new CryptError('NTE_BAD_FLAGS', `dwFlags must be a DWORD, not ${String(flags)}`, { operation });
  const unknown = (f & ~allowed) >>> 0;
  if (unknown !== 0) throw new CryptError('NTE_BAD_FLAGS', `dwFlags 0x${unknown.toString(16)} ${unknown & (unknown - 1) ? 'are' : 'is'} not accepted by ${operation}`, { operation });
  return f;
}
