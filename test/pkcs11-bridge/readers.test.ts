import assert from 'node:assert/strict';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { expectCryptError, makeToken, newDriver } from './helpers.js';

const a = makeToken('br-readers-a');
const b = makeToken('br-readers-b');

describe('pkcs11-bridge: readers (slots) and cards (tokens)', () => {
  let driver: Pkcs11Minidriver;

  before(() => {
    driver = newDriver();
  });

  after(() => driver.close());

  it('two tokens are two readers, each with the token\'s identity and a card handle', async () => {
    const readers = await driver.listReaders();
    for (const t of [a, b]) {
      const matching = readers.filter((r) => r.card?.label === t.label);
      assert.equal(matching.length, 1, `one reader holds ${t.label}`);
      const r = matching[0]!;
      assert.equal(r.cardPresent, true);
      assert.equal(r.card!.serial, t.serial);
      assert.equal(r.card!.manufacturer, 'SoftHSM project');
      assert.equal(r.card!.model, 'SoftHSM v2');
      assert.ok(r.hScard, 'a card handle to bind contexts with');
      assert.ok(r.szReader.length > 0 && r.szReader === r.szReader.trimEnd(), 'reader name without PKCS#11 blank padding');
    }
    const ra = readers.find((r) => r.card?.label === a.label)!;
    const rb = readers.find((r) => r.card?.label === b.label)!;
    assert.notEqual(ra.szReader, rb.szReader);
    assert.equal(new Set(readers.map((r) => r.szReader)).size, readers.length, 'reader names are unique');
  });

  it('an uninitialised slot is a reader with a card present but no card identity and no handle', async () => {
    const blank = (await driver.listReaders()).filter((r) => r.cardPresent && !r.card);
    assert.ok(blank.length >= 1, 'SoftHSM2 always offers one free, uninitialised slot');
    for (const r of blank) assert.equal(r.hScard, undefined);
  });

  it('openCard picks the token by label or by serial, and each context is bound to its own card', async () => {
    const byLabel = await driver.openCard({ label: a.label });
    const bySerial = await driver.openCard({ serial: b.serial });
    assert.deepEqual(await byLabel.CardGetProperty('Card Serial Number'), Buffer.from(a.serial, 'latin1'));
    assert.deepEqual(await bySerial.CardGetProperty('Card Serial Number'), Buffer.from(b.serial, 'latin1'));
    const idA = await byLabel.CardReadFile(null, 'cardid');
    const idB = await bySerial.CardReadFile(null, 'cardid');
    assert.notDeepEqual(idA, idB, 'two cards, two card identifiers');
    await byLabel.CardDeleteContext();
    await bySerial.CardDeleteContext();
  });

  it('openCard of a label no reader holds is SCARD_E_NO_SMARTCARD', async () => {
    await expectCryptError(() => driver.openCard({ label: 'no-such-token' }), 'SCARD_E_NO_SMARTCARD');
    await expectCryptError(() => driver.openCard({ label: a.label, serial: b.serial }), 'SCARD_E_NO_SMARTCARD');
  });
});
