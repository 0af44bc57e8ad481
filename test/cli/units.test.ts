// The CLI's small parts, in-process: exit-code table, home resolution, PIN files, SIMPLEBLOB layout.
import { strict as assert } from 'node:assert';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { decodeSimpleBlob, encodeSimpleBlob } from '../../cli/demo/key-blobs.js';
import { CancelledError, ExitCode, exitCodeFor, UsageError } from '../../cli/exit-codes.js';
import { resolveHome } from '../../home.js';
import { readPinFile } from '../../cli/pin-input.js';
import { paddedLabel } from '../../cli/token-init.js';
import type { WindowsCodeName } from '../../minidriver/codes.js';
import { CryptError } from '../../minidriver/errors.js';
import { tempDir } from './harness.js';
import { chmodSync, writeFileSync } from 'node:fs';

describe('cli exit codes', () => {
  it('maps the documented Windows codes', () => {
    const cases: [WindowsCodeName, number][] = [
      ['SCARD_W_WRONG_CHV', 3], ['SCARD_W_CHV_BLOCKED', 4], ['SCARD_E_NO_SMARTCARD', 5], ['SCARD_W_REMOVED_CARD', 5],
      ['SCARD_E_FILE_NOT_FOUND', 6], ['SCARD_E_NO_KEY_CONTAINER', 6], ['NTE_BAD_KEYSET', 6],
      ['SCARD_E_UNSUPPORTED_FEATURE', 7], ['NTE_NOT_SUPPORTED', 7], ['SCARD_E_UNEXPECTED', 1],
    ];
    for (const [name, code] of cases) assert.equal(exitCodeFor(new CryptError(name, 'x')), code, name);
    assert.equal(exitCodeFor(new UsageError('x')), ExitCode.USAGE);
    assert.equal(exitCodeFor(new CancelledError()), ExitCode.CANCELLED);
    assert.equal(exitCodeFor(new Error('x')), ExitCode.FAILURE);
  });
});

describe('cli home folder', () => {
  it('P11KSP_HOME, else $XDG_DATA_HOME/p11-ksp, else ~/.local/share/p11-ksp', () => {
    assert.equal(resolveHome({ P11KSP_HOME: '/a/b', XDG_DATA_HOME: '/x' }), '/a/b');
    assert.equal(resolveHome({ XDG_DATA_HOME: '/x' }), '/x/p11-ksp');
    assert.equal(resolveHome({ XDG_DATA_HOME: 'relative' }), join(homedir(), '.local', 'share', 'p11-ksp'));
    assert.equal(resolveHome({}), join(homedir(), '.local', 'share', 'p11-ksp'));
  });
});

describe('cli PIN files', () => {
  const tmp = tempDir();
  after(() => tmp.remove());
  const file = (name: string, content: string | Buffer): string => {
    const path = join(tmp.dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  const source = { what: 'user PIN', option: '--pin-file' };

  it('takes the first line without its line end (\\n or \\r\\n)', () => {
    assert.equal(readPinFile({ ...source, file: file('a', '1234\n') }).toString(), '1234');
    assert.equal(readPinFile({ ...source, file: file('b', 'abcd\r\nsecond line\n') }).toString(), 'abcd');
    assert.equal(readPinFile({ ...source, file: file('c', 'no-newline') }).toString(), 'no-newline');
    assert.equal(readPinFile({ ...source, file: file('d', 'pïn€\n') }).toString(), 'pïn€', '4 characters in more bytes');
  });

  it('refuses short PINs and unreadable files without showing the content', () => {
    assert.throws(() => readPinFile({ ...source, file: file('short', 'abc\n') }), (e: unknown) => e instanceof UsageError && /at least 4/.test(e.message) && !e.message.includes('abc\n'));
    assert.throws(() => readPinFile({ ...source, file: join(tmp.dir, 'missing') }), (e: unknown) => e instanceof UsageError && /ENOENT/.test(e.message));
  });

  it('warns when other users can read the file, and still reads it', () => {
    const warnings: string[] = [];
    readPinFile({ ...source, file: file('private', '1234\n') }, (m) => warnings.push(m));
    assert.equal(warnings.length, 0);
    const open = file('open', '1234\n');
    chmodSync(open, 0o644);
    assert.equal(readPinFile({ ...source, file: open }, (m) => warnings.push(m)).toString(), '1234');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /chmod 600/);
  });
});

describe('cli SIMPLEBLOB', () => {
  it('is BLOBHEADER {1, 2, 0, CALG_AES_256} + CALG_RSA_KEYX + the ciphertext little-endian', () => {
    const ciphertext = Buffer.from('0102030405', 'hex');
    const blob = encodeSimpleBlob(0x6610, ciphertext);
    assert.equal(blob.toString('hex'), '0102000010660000' + '00a40000' + '0504030201');
    const decoded = decodeSimpleBlob(blob);
    assert.equal(decoded.aiKeyAlg, 0x6610);
    assert.equal(decoded.ciphertextLittleEndian.toString('hex'), '0504030201');
  });
});

describe('cli token labels', () => {
  it('pads to the 32 bytes C_InitToken reads, and refuses longer ones', () => {
    assert.equal(paddedLabel('p11-ksp'), `p11-ksp${' '.repeat(25)}`);
    assert.equal(Buffer.byteLength(paddedLabel('é')), 32);
    assert.throws(() => paddedLabel('x'.repeat(33)), /1 to 32 bytes/);
  });
});
