import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { inspect } from 'node:util';

import {
  allocateSecure,
  isSecureMemoryAvailable,
  SecureBuffer,
  securePageSize,
  wipe,
} from '../../native/index.js';
import { mappingAt } from './smaps.js';

const isLinux = process.platform === 'linux';
const indexUrl = new URL('../../native/index.js', import.meta.url).href;
const smapsUrl = new URL('./smaps.js', import.meta.url).href;

/** Runs an ESM snippet in a fresh node (optionally behind a command prefix) and returns the JSON it prints. */
function runChild(script: string, opts: { prefix?: string[]; nodeArgs?: string[] } = {}): unknown {
  const prefix = opts.prefix ?? [];
  const argv = [...prefix, process.execPath, ...(opts.nodeArgs ?? []), '--input-type=module', '-e', script];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `child failed (${String(r.status ?? r.signal)}): ${r.stderr}${r.error?.message ?? ''}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir !== '' && existsSync(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  return undefined;
}

describe('native secure memory (p11ksp_secure_memory)', () => {
  const live: SecureBuffer[] = [];
  const alloc = (size: number): SecureBuffer => {
    const b = allocateSecure(size);
    live.push(b);
    return b;
  };
  afterEach(() => {
    for (const b of live.splice(0)) b.free();
  });

  it('is built and loads (run `npm run build:native` if this fails)', () => {
    assert.equal(isSecureMemoryAvailable(), true);
  });

  it('allocates zero-filled, page-aligned memory and reports its properties', () => {
    const b = alloc(100);
    assert.ok(b instanceof SecureBuffer);
    assert.equal(b.size, 100);
    assert.equal(typeof b.locked, 'boolean');
    assert.equal(b.freed, false);
    assert.match(b.address!, /^0x[0-9a-f]+$/);
    assert.equal(BigInt(b.address!) % BigInt(securePageSize()), 0n);
    assert.deepEqual(b.read(0, 100), Buffer.alloc(100));
    if (isLinux) {
      assert.equal(b.dumpExcluded, true);
    }
  });

  it('round-trips bytes written at offsets and hands out independent copies', () => {
    const b = alloc(64);
    b.write(0, Buffer.from('123456'));
    b.write(10, new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    b.write(60, Buffer.from('tail'));
    assert.equal(b.read(0, 6).toString(), '123456');
    assert.deepEqual([...b.read(10, 4)], [0xde, 0xad, 0xbe, 0xef]);
    assert.equal(b.read(60, 4).toString(), 'tail');
    assert.deepEqual([...b.read(6, 4)], [0, 0, 0, 0]);

    const copy = b.read(0, 6);
    assert.ok(Buffer.isBuffer(copy));
    copy.fill(0x41);
    assert.equal(b.read(0, 6).toString(), '123456', 'mutating the copy must not touch secure memory');

    // a view into a larger ArrayBuffer: only the view's bytes are copied in
    const big = Buffer.from('xxPINxx');
    b.write(20, big.subarray(2, 5));
    assert.equal(b.read(20, 3).toString(), 'PIN');
    assert.equal(b.read(23, 1)[0], 0);
    assert.equal(b.read(64, 0).length, 0);
  });

  it('rejects out-of-bounds and malformed reads and writes with RangeError/TypeError', () => {
    const b = alloc(16);
    b.write(0, Buffer.from('0123456789abcdef'));
    assert.throws(() => b.read(15, 2), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => b.read(17, 0), RangeError);
    assert.throws(() => b.read(0, 17), RangeError);
    assert.throws(() => b.read(-1, 1), RangeError);
    assert.throws(() => b.read(1.5, 1), RangeError);
    assert.throws(() => b.read(Number.NaN, 1), RangeError);
    assert.throws(() => b.read(0, Number.POSITIVE_INFINITY), RangeError);
    assert.throws(() => b.read(2 ** 64, 1), RangeError);
    assert.throws(() => b.read('0' as unknown as number, 1), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => (b.read as (o: number) => Buffer)(0), TypeError);

    assert.throws(() => b.write(14, Buffer.from('xyz')), RangeError);
    assert.throws(() => b.write(17, new Uint8Array(0)), RangeError);
    assert.throws(() => b.write(0, 'abc' as unknown as Uint8Array), TypeError);
    assert.throws(() => b.write(0, new Uint16Array(2) as unknown as Uint8Array), TypeError);
    assert.throws(() => (b.write as (o: number) => void)(0), TypeError);
    assert.equal(b.read(0, 16).toString(), '0123456789abcdef', 'failed writes must not write anything');
  });

  it('rejects bad sizes', () => {
    assert.throws(() => allocateSecure(0), RangeError);
    assert.throws(() => allocateSecure(-4), RangeError);
    assert.throws(() => allocateSecure(2.5), RangeError);
    assert.throws(() => allocateSecure(64 * 1024 * 1024 + 1), RangeError);
    assert.throws(() => allocateSecure('32' as unknown as number), TypeError);
  });

  it('wipe() zeroes the block', () => {
    const b = alloc(5000); // spans two pages
    b.write(0, Buffer.alloc(5000, 0x5a));
    b.wipe();
    assert.deepEqual(b.read(0, 5000), Buffer.alloc(5000));
    assert.equal(b.freed, false);
  });

  it('free() is idempotent and any later use throws instead of crashing', () => {
    const b = allocateSecure(32);
    b.write(0, Buffer.from('secret'));
    b.free();
    b.free();
    assert.equal(b.freed, true);
    assert.equal(b.locked, false);
    assert.equal(b.address, null);
    const freed = { name: 'Error', code: 'ERR_SECURE_BUFFER_FREED' };
    assert.throws(() => b.read(0, 1), freed);
    assert.throws(() => b.write(0, Buffer.from('x')), freed);
    assert.throws(() => b.wipe(), freed);
    assert.equal(b.size, 32);
  });

  it('frees at the end of a `using` scope (Symbol.dispose)', () => {
    const b = alloc(8);
    b[Symbol.dispose]();
    assert.equal(b.freed, true);
  });

  it('never shows contents when inspected', () => {
    const b = alloc(8);
    b.write(0, Buffer.from('hunter2'));
    const shown = inspect(b);
    assert.ok(!shown.includes('hunter2'));
    assert.match(shown, /SecureBuffer \{ size: 8/);
  });

  it('wipe(buf) zeroes exactly the bytes of a Buffer, view, DataView or ArrayBuffer', () => {
    const buf = Buffer.from('correct horse battery staple');
    wipe(buf);
    assert.deepEqual(buf, Buffer.alloc(buf.length));

    const outer = Buffer.from('AAAApinBBBB');
    wipe(outer.subarray(4, 7));
    assert.equal(outer.toString('latin1'), 'AAAA\0\0\0BBBB');

    const u32 = new Uint32Array([1, 2, 3, 4]);
    wipe(u32.subarray(1, 3));
    assert.deepEqual([...u32], [1, 0, 0, 4]);

    const ab = new ArrayBuffer(8);
    new Uint8Array(ab).fill(7);
    wipe(new DataView(ab, 2, 3));
    assert.deepEqual([...new Uint8Array(ab)], [7, 7, 0, 0, 0, 7, 7, 7]);
    wipe(ab);
    assert.deepEqual([...new Uint8Array(ab)], [0, 0, 0, 0, 0, 0, 0, 0]);

    wipe(new Uint8Array(0));
    assert.throws(() => wipe('pin' as unknown as Uint8Array), TypeError);
    assert.throws(() => wipe({} as unknown as Uint8Array), TypeError);
  });

  describe('kernel view (/proc/self/smaps)', function () {
    before(function () {
      if (!isLinux) this.skip();
    });

    it('marks the mapping do-not-dump, wipe-on-fork and, when locked, locked', () => {
      const b = alloc(200);
      const m = mappingAt(b.address!);
      assert.ok(m, `no mapping contains ${b.address}`);
      assert.equal(m.perms, 'rw-p');
      assert.ok(m.vmFlags.includes('dd'), `VmFlags ${m.vmFlags.join(' ')} lacks dd`);
      assert.equal(m.vmFlags.includes('lo'), b.locked, `VmFlags ${m.vmFlags.join(' ')} vs locked=${b.locked}`);
      assert.equal(m.vmFlags.includes('wf'), b.wipeOnFork);
      // The locked VMA is exactly the data pages: guard pages around it are not accessible.
      const page = BigInt(securePageSize());
      assert.equal(m.end - m.start, page);
      const before = mappingAt(`0x${(m.start - 1n).toString(16)}`);
      const after = mappingAt(`0x${m.end.toString(16)}`);
      assert.equal(before?.perms, '---p');
      assert.equal(after?.perms, '---p');
    });

    it('reports locked=true when running with CAP_IPC_LOCK (root)', function () {
      if (process.getuid?.() !== 0) this.skip();
      const b = alloc(64);
      assert.equal(b.locked, true);
    });

    it('unmaps the pages on free()', () => {
      const b = allocateSecure(100);
      const addr = b.address!;
      assert.ok(mappingAt(addr)?.vmFlags.includes('dd'));
      b.free();
      const m = mappingAt(addr);
      assert.ok(m === undefined || !m.vmFlags.includes('dd'), 'mapping still present after free()');
    });

    it('wipes and unmaps when the object is garbage-collected without free()', () => {
      const out = runChild(
        `
        import { allocateSecure } from ${JSON.stringify(indexUrl)};
        import { mappingAt } from ${JSON.stringify(smapsUrl)};
        const secure = (a) => mappingAt(a)?.vmFlags.includes('dd') ?? false;
        let b = allocateSecure(64);
        b.write(0, Buffer.from('secret'));
        const addr = b.address;
        const before = secure(addr);
        b = null;
        let rounds = 0;
        while (secure(addr) && rounds < 50) {
          globalThis.gc();
          await new Promise((r) => setImmediate(r));
          rounds++;
        }
        console.log(JSON.stringify({ before, after: secure(addr), rounds }));
        `,
        { nodeArgs: ['--expose-gc'] },
      ) as { before: boolean; after: boolean; rounds: number };
      assert.equal(out.before, true);
      assert.equal(out.after, false, `still mapped after ${out.rounds} GC rounds`);
    });

    it('still works, unlocked and non-dumpable, when mlock is refused (RLIMIT_MEMLOCK=0, no CAP_IPC_LOCK)', function () {
      const prefix = ['/bin/sh', '-c', 'ulimit -l 0 && exec "$@"', 'sh'];
      if (process.getuid?.() === 0) {
        // root bypasses RLIMIT_MEMLOCK through CAP_IPC_LOCK: drop it for the child
        const setpriv = which('setpriv');
        if (setpriv === undefined) this.skip();
        prefix.push(setpriv!, '--inh-caps', '-ipc_lock', '--bounding-set', '-ipc_lock', '--');
      }
      const out = runChild(
        `
        import { allocateSecure } from ${JSON.stringify(indexUrl)};
        import { mappingAt } from ${JSON.stringify(smapsUrl)};
        const b = allocateSecure(48);
        b.write(3, Buffer.from('pin-1234'));
        const m = mappingAt(b.address);
        const result = { locked: b.locked, dumpExcluded: b.dumpExcluded, data: b.read(3, 8).toString(), flags: m.vmFlags };
        b.wipe();
        result.wiped = b.read(0, 48).every((x) => x === 0);
        b.free();
        console.log(JSON.stringify(result));
        `,
        { prefix },
      ) as { locked: boolean; dumpExcluded: boolean; data: string; flags: string[]; wiped: boolean };
      assert.equal(out.locked, false);
      assert.equal(out.dumpExcluded, true);
      assert.equal(out.data, 'pin-1234');
      assert.equal(out.wiped, true);
      assert.ok(out.flags.includes('dd'));
      assert.ok(!out.flags.includes('lo'));
    });
  });
});
