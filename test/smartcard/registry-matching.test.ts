import { strict as assert } from 'node:assert';
import type { CardReaderState } from '../../minidriver/card-module.js';
import { atrMatches, globMatch, matchesReader, type Registration, rankProviders, selectProvider } from '../../smartcard/registry/index.js';

function reg(name: string, fields: Partial<Registration> = {}): Registration {
  return { name, kind: 'minidriver', module: '/m.so', match: {}, priority: 0, installedAt: '2026-01-01T00:00:00.000Z', installSequence: 1, ...fields };
}

function reader(fields: Partial<CardReaderState> = {}): CardReaderState {
  return {
    szReader: 'Reader 0',
    cardPresent: true,
    card: { label: 'alice token                     ', serial: '0123456789abcdef', manufacturer: 'SoftHSM project', model: 'SoftHSM v2' },
    ...fields,
  };
}

describe('smartcard registry: matching', () => {
  describe('ATR and mask (Calais rule: A AND mask == ATR, equal length)', () => {
    const atr = Buffer.from('3b8f8001804f0ca000000306030001000000006a', 'hex');
    const vectors: Array<[string, string | undefined, boolean]> = [
      ['3b8f8001804f0ca000000306030001000000006a', undefined, true],
      ['3b8f8001804f0ca000000306030001000000006a', 'ffffffffffffffffffffffffffffffffffffffff', true],
      ['3b8f8001804f0ca000000306030001000000006b', undefined, false],
      // Last byte (checksum) masked out: any value matches.
      ['3b8f8001804f0ca0000003060300010000000000', 'ffffffffffffffffffffffffffffffffffffff00', true],
      // Registered bits under a zero mask are ignored too.
      ['3b8f8001804f0ca00000030603000100000000ff', 'ffffffffffffffffffffffffffffffffffffff00', true],
      // Nibble mask: high nibble of byte 1 only.
      ['3b800000000000000000000000000000000000', 'fff0000000000000000000000000000000000000', false], // shorter: length differs
      ['3b80000000000000000000000000000000000000', 'fff0000000000000000000000000000000000000', true],
      ['3b90000000000000000000000000000000000000', 'fff0000000000000000000000000000000000000', false],
      // Equal prefix but a different length never matches.
      ['3b8f8001804f0ca000000306030001000000006a00', 'ffffffffffffffffffffffffffffffffffffffff00', false],
    ];
    for (const [registered, mask, expected] of vectors) {
      it(`${registered}/${mask ?? 'no mask'} → ${expected}`, () => {
        assert.equal(atrMatches(atr, registered, mask), expected);
      });
    }

    it('a reader without an ATR never matches an ATR registration', () => {
      assert.equal(matchesReader(reg('a', { match: { atr: '3b00' } }), reader({ atr: undefined })), false);
      assert.equal(matchesReader(reg('a', { match: { atr: '3b00' } }), reader({ atr: Buffer.from('3b00', 'hex') })), true);
    });
  });

  describe('glob patterns on token identity', () => {
    const cases: Array<[string, string, boolean]> = [
      ['*', '', true],
      ['*', 'anything', true],
      ['SoftHSM*', 'SoftHSM v2', true],
      ['softhsm*', 'SoftHSM v2', false], // case-sensitive
      ['SoftHSM v?', 'SoftHSM v2', true],
      ['SoftHSM v?', 'SoftHSM v21', false],
      ['a.c', 'abc', false], // '.' is literal
      ['a+(b)', 'a+(b)', true],
      ['*[x]*', 'a[x]b', true],
      ['?', '', false],
      ['0123*cdef', '0123456789abcdef', true],
    ];
    for (const [pattern, value, expected] of cases) {
      it(`${JSON.stringify(pattern)} on ${JSON.stringify(value)} → ${expected}`, () => assert.equal(globMatch(pattern, value), expected));
    }

    it('trims PKCS#11 blank padding and requires every given field', () => {
      assert.equal(matchesReader(reg('a', { match: { label: 'alice token' } }), reader()), true);
      assert.equal(matchesReader(reg('a', { match: { label: 'alice*', model: 'SoftHSM*' } }), reader()), true);
      assert.equal(matchesReader(reg('a', { match: { label: 'alice*', model: 'OpenSC*' } }), reader()), false);
      assert.equal(matchesReader(reg('a', { match: { label: '*' } }), reader({ card: undefined })), false);
    });
  });

  describe('registrations without criteria', () => {
    it('serve every card of their own module, and no card of another', () => {
      const r = reg('all', { module: '/a.so' });
      assert.equal(matchesReader(r, reader()), true);
      assert.equal(matchesReader(r, reader(), { module: '/a.so' }), true);
      assert.equal(matchesReader(r, reader(), { module: '/b.so' }), false);
    });

    it('never match an empty reader', () => {
      assert.equal(matchesReader(reg('all'), reader({ cardPresent: false, card: undefined })), false);
    });
  });

  describe('selectProvider precedence', () => {
    const older = reg('older', { installedAt: '2026-01-01T00:00:00.000Z', installSequence: 1 });
    const newer = reg('newer', { installedAt: '2026-02-01T00:00:00.000Z', installSequence: 2 });

    it('the most recently installed wins', () => {
      assert.equal(selectProvider([older, newer], reader())?.name, 'newer');
      assert.equal(selectProvider([newer, older], reader())?.name, 'newer');
    });

    it('installSequence breaks a tie within the same millisecond', () => {
      const a = reg('a', { installSequence: 7 });
      const b = reg('b', { installSequence: 8 });
      assert.equal(selectProvider([b, a], reader())?.name, 'b');
    });

    it('priority overrides install order', () => {
      const pinned = reg('pinned', { priority: 5, installedAt: '2025-01-01T00:00:00.000Z' });
      assert.equal(selectProvider([older, newer, pinned], reader())?.name, 'pinned');
      assert.deepEqual(rankProviders([older, newer, pinned], reader()).map((r) => r.name), ['pinned', 'newer', 'older']);
    });

    it('a non-matching newer registration does not shadow an older matching one', () => {
      const other = reg('other', { installSequence: 99, installedAt: '2027-01-01T00:00:00.000Z', match: { model: 'OpenSC*' } });
      assert.equal(selectProvider([older, other], reader())?.name, 'older');
    });

    it('returns undefined when nothing matches', () => {
      assert.equal(selectProvider([], reader()), undefined);
      assert.equal(selectProvider([reg('x', { match: { atr: '3b00' } })], reader()), undefined);
    });
  });
});
