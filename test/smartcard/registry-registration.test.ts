import { strict as assert } from 'node:assert';
import { type RegistrationInput, validateRegistration, validateRegistrationInput } from '../../smartcard/registry/index.js';
import { expectCryptError } from '../minidriver/expect-crypt-error.js';

const base: RegistrationInput = { name: 'Test Card', kind: 'minidriver', module: '/usr/lib/x.so', match: {} };

describe('smartcard registry: registration validation', () => {
  it('accepts a minimal minidriver registration and defaults priority to 0', () => {
    const reg = validateRegistrationInput(base);
    assert.equal(reg.priority, 0);
    assert.deepEqual(reg.match, {});
  });

  it('normalises ATR and mask to lowercase hex without separators', () => {
    const reg = validateRegistrationInput({ ...base, match: { atr: '3B:8F 80', atrMask: 'FF:FF:00' } });
    assert.equal(reg.match.atr, '3b8f80');
    assert.equal(reg.match.atrMask, 'ffff00');
  });

  for (const name of ['', 'x'.repeat(65), 'a/b', 'card\u0000', 'é-card', 'tab\there']) {
    it(`refuses the name ${JSON.stringify(name)} with SCARD_E_INVALID_PARAMETER`, () => {
      const err = expectCryptError(() => validateRegistrationInput({ ...base, name }), 'SCARD_E_INVALID_PARAMETER');
      assert.match(err.message, /card type name/);
    });
  }

  it('accepts a 64-character name of every allowed character class', () => {
    const name = ('Ab0 ._-'.repeat(10) + 'abcd').slice(0, 64);
    assert.equal(validateRegistrationInput({ ...base, name }).name, name);
  });

  it('refuses an ATR and mask of different lengths', () => {
    const err = expectCryptError(() => validateRegistrationInput({ ...base, match: { atr: '3b8f80', atrMask: 'ffff' } }), 'SCARD_E_INVALID_PARAMETER');
    assert.match(err.message, /same length/);
  });

  it('refuses non-hex, odd-length and empty ATRs, and a mask without an ATR', () => {
    expectCryptError(() => validateRegistrationInput({ ...base, match: { atr: '3bzz' } }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => validateRegistrationInput({ ...base, match: { atr: '3b8' } }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => validateRegistrationInput({ ...base, match: { atr: '' } }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => validateRegistrationInput({ ...base, match: { atrMask: 'ff' } }), 'SCARD_E_INVALID_PARAMETER');
  });

  it('refuses both module and plugin, neither, and a kind that disagrees with the path given', () => {
    assert.match(expectCryptError(() => validateRegistrationInput({ ...base, plugin: './p.js' }), 'SCARD_E_INVALID_PARAMETER').message, /not both/);
    expectCryptError(() => validateRegistrationInput({ name: 'x', kind: 'minidriver', match: {} }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => validateRegistrationInput({ name: 'x', kind: 'plugin', module: '/m.so', match: { label: 'a' } }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => validateRegistrationInput({ ...base, kind: 'csp' as never }), 'SCARD_E_INVALID_PARAMETER');
  });

  it('requires a plug-in to say which cards it serves', () => {
    expectCryptError(() => validateRegistrationInput({ name: 'p', kind: 'plugin', plugin: './p.js', match: {} }), 'SCARD_E_INVALID_PARAMETER');
    assert.equal(validateRegistrationInput({ name: 'p', kind: 'plugin', plugin: './p.js', match: { model: 'PIV*' } }).plugin, './p.js');
  });

  it('refuses a non-integer priority and empty patterns', () => {
    expectCryptError(() => validateRegistrationInput({ ...base, priority: 1.5 }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => validateRegistrationInput({ ...base, match: { label: '' } }), 'SCARD_E_INVALID_PARAMETER');
  });

  it('checks the install fields of a stored registration', () => {
    const ok = { ...base, installedAt: '2026-01-01T00:00:00.000Z', installSequence: 1 };
    assert.equal(validateRegistration(ok).installSequence, 1);
    expectCryptError(() => validateRegistration({ ...ok, installedAt: 'yesterday' }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => validateRegistration({ ...ok, installSequence: 0 }), 'SCARD_E_INVALID_PARAMETER');
  });
});
