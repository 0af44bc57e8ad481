/**
 * Reads the kernel's view of one mapping from /proc/self/smaps (Linux only).
 * Shared by the in-process tests and the child processes they spawn.
 */
import { readFileSync } from 'node:fs';

export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  /** VmFlags mnemonics: 'lo' locked, 'dd' do not dump, 'wf' wipe on fork... */
  vmFlags: string[];
}

/** The mapping (VMA) that contains `address` ("0x..."), or undefined if none does. */
export function mappingAt(address: string): Mapping | undefined {
  const addr = BigInt(address);
  let current: Mapping | undefined;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)/.exec(line);
    if (header) {
      if (current !== undefined) return current;
      const start = BigInt(`0x${header[1]}`);
      const end = BigInt(`0x${header[2]}`);
      if (start <= addr && addr < end) current = { start, end, perms: header[3]!, vmFlags: [] };
      continue;
    }
    if (current !== undefined && line.startsWith('VmFlags:')) {
      current.vmFlags = line.slice('VmFlags:'.length).trim().split(/\s+/);
    }
  }
  return current;
}
