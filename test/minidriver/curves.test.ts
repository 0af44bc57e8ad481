import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import {
  CURVES, curveByEcParams, curveByKeySpec, curveByMagic, curveByName,
} from '../../minidriver/codecs/index.js';

/** DER OBJECT IDENTIFIER from dotted text, written independently of the table. */
function derOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const body: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const base128: number[] = [];
    let rest = arc;
    do {
      base128.unshift(rest & 0x7f);
      rest = Math.floor(rest / 128);
    } while (rest > 0);
    body.push(...base128.map((digit, i) => (i < base128.length - 1 ? digit | 0x80 : digit)));
  }
  return Buffer.from([0x06, body.length, ...body]);
}

const ID_EC_PUBLIC_KEY = derOid('1.2.840.10045.2.1');

describe('minidriver codecs: curve table', () => {
  it('lists the three NIST curves with the expected OIDs and sizes', () => {
    assert.deepEqual(CURVES.map((c) => [c.name, c.oid, c.byteLength, c.nodeCurve]), [
      ['P-256', '1.2.840.10045.3.1.7', 32, 'prime256v1'],
      ['P-384', '1.3.132.0.34', 48, 'secp384r1'],
      ['P-521', '1.3.132.0.35', 66, 'secp521r1'],
    ]);
  });

  for (const curve of CURVES) {
    it(`${curve.name}: CKA_EC_PARAMS is the DER of the OID and matches node's SPKI`, () => {
      assert.deepEqual(curve.ecParams, derOid(curve.oid));
      const spki = generateKeyPairSync('ec', { namedCurve: curve.nodeCurve }).publicKey.export({ format: 'der', type: 'spki' });
      assert.ok(spki.includes(Buffer.concat([ID_EC_PUBLIC_KEY, curve.ecParams])), 'AlgorithmIdentifier carries this namedCurve');
    });

    it(`${curve.name}: byteLength is the JWK coordinate length`, () => {
      const jwk = generateKeyPairSync('ec', { namedCurve: curve.nodeCurve }).publicKey.export({ format: 'jwk' });
      assert.equal(Buffer.from(jwk.x!, 'base64url').length, curve.byteLength);
    });
  }

  it('maps key specs 3..8 to curve and usage', () => {
    const expected: [number, string, string][] = [
      [3, 'P-256', 'ECDSA'], [4, 'P-384', 'ECDSA'], [5, 'P-521', 'ECDSA'],
      [6, 'P-256', 'ECDH'], [7, 'P-384', 'ECDH'], [8, 'P-521', 'ECDH'],
    ];
    for (const [spec, name, usage] of expected) {
      const found = curveByKeySpec(spec);
      assert.equal(found?.curve.name, name);
      assert.equal(found?.usage, usage);
    }
    assert.equal(curveByKeySpec(1), undefined);
    assert.equal(curveByKeySpec(2), undefined);
  });

  it('maps all twelve blob magics, which spell ECS1..6 / ECK1..6', () => {
    const spelled = (magic: number): string => {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32LE(magic, 0);
      return bytes.toString('latin1');
    };
    const seen = new Set<string>();
    for (const curve of CURVES) {
      for (const usage of ['ECDSA', 'ECDH'] as const) {
        for (const isPrivate of [false, true]) {
          const magic = isPrivate ? curve.magic[usage].private : curve.magic[usage].public;
          assert.deepEqual(curveByMagic(magic), { curve, usage, isPrivate });
          seen.add(spelled(magic));
        }
      }
    }
    assert.deepEqual([...seen].sort(), ['ECK1', 'ECK2', 'ECK3', 'ECK4', 'ECK5', 'ECK6', 'ECS1', 'ECS2', 'ECS3', 'ECS4', 'ECS5', 'ECS6']);
    assert.equal(curveByMagic(0x31415352), undefined);
  });

  it('finds curves by name and by CKA_EC_PARAMS', () => {
    assert.equal(curveByName('P-384')?.byteLength, 48);
    assert.equal(curveByName('secp384r1'), undefined);
    assert.equal(curveByEcParams(Buffer.from('06052b81040023', 'hex'))?.name, 'P-521');
    assert.equal(curveByEcParams(Buffer.from('06052b81040021', 'hex')), undefined);
  });
});
