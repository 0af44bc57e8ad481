/**
 * What finding the card's keys costs the token. Every CardGetContainerInfo and every read of the
 * cmapfile matches the map against the keys really on the token (another process may have changed
 * them), and a card that cannot hold the map (OpenSC's read-only cards) has no data cache in front of
 * those reads: so each key object is read in two calls — identity, type and usage in one, its public
 * numbers in the other — and not attribute by attribute. A token that refuses one of the usage
 * attributes for a key (CKR_ATTRIBUTE_TYPE_INVALID fails the whole template) still gets its keys
 * found, the usage asked one attribute at a time.
 *
 * Counted with a pass-through wrapper around the process's one pkcs11js instance of SoftHSM2 (every
 * call still reaches the real module); no assertion is about time.
 */
import assert from 'node:assert/strict';
import pkcs11js from 'pkcs11js';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { acquireModule, type LoadedModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { generateKeyPair } from '../rigs/index.js';
import { makeToken, newDriver, openContext, pin, readCmap, SOFTHSM2_MODULE } from './helpers.js';

const token = makeToken('br-key-discovery');

type Calls = Record<string, number>;

/** Counts the module's calls while `action` runs; `fault` may throw instead of calling through. */
async function counting(module: LoadedModule, action: () => Promise<void>, fault?: (name: string, args: unknown[]) => void): Promise<Calls> {
  const target = module.pkcs11 as unknown as Record<string, (...args: unknown[]) => unknown>;
  const names = Object.getOwnPropertyNames(target).filter((n) => n.startsWith('C_') && typeof target[n] === 'function');
  const saved = names.map((name) => [name, Object.getOwnPropertyDescriptor(target, name)!] as const);
  const calls: Calls = {};
  for (const [name, descriptor] of saved) {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    target[name] = function (this: unknown, ...args: unknown[]) {
      calls[name] = (calls[name] ?? 0) + 1;
      fault?.(name, args);
      return original.apply(this, args);
    };
  }
  try {
    await action();
  } finally {
    for (const [name, descriptor] of saved) Object.defineProperty(target, name, descriptor);
  }
  return calls;
}

describe('pkcs11-bridge: finding the keys on the token (token calls)', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  let module: LoadedModule;
  let rsaIndex: number;
  let ecIndex: number;

  before(async () => {
    driver = newDriver();
    ctx = await openContext(driver, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    const tool = { modulePath: SOFTHSM2_MODULE, label: token.label, pin: token.pin };
    generateKeyPair(tool, { keyType: 'rsa:2048', id: 'c1', label: 'disc-rsa' });
    generateKeyPair(tool, { keyType: 'EC:prime256v1', id: 'c2', label: 'disc-ec' });
    const records = await readCmap(ctx);
    rsaIndex = records.findIndex((r) => r?.name === 'disc-rsa');
    ecIndex = records.findIndex((r) => r?.name === 'disc-ec');
    assert.ok(rsaIndex >= 0 && ecIndex >= 0);
    module = acquireModule(SOFTHSM2_MODULE); // the driver's instance (one per process and path)
  });

  after(async () => {
    releaseModule(module);
    await ctx.CardDeleteContext();
    await driver.close();
  });

  it('reads each key object in two C_GetAttributeValue calls (4 objects: 2 key pairs, logged in)', async () => {
    const calls = await counting(module, async () => {
      await ctx.CardGetContainerInfo(rsaIndex);
    });
    // 2 for the cmapfile (the cached handle's check, the value), 2 per key object.
    assert.equal(calls.C_GetAttributeValue, 2 + 2 * 4, JSON.stringify(calls));
    assert.equal(calls.C_FindObjectsInit, 2, 'one search for public keys, one for private keys');
  });

  it('a token that refuses a usage attribute in a template still has its keys found, with the same roles and sizes', async () => {
    const before = await readCmap(ctx);
    const rsaInfo = await ctx.CardGetContainerInfo(rsaIndex);
    const ecInfo = await ctx.CardGetContainerInfo(ecIndex);
    let refused = 0;
    const calls = await counting(module, async () => {
      assert.deepEqual(await ctx.CardGetContainerInfo(rsaIndex), rsaInfo);
      assert.deepEqual(await ctx.CardGetContainerInfo(ecIndex), ecInfo);
      assert.deepEqual(await readCmap(ctx), before);
    }, (name, args) => {
      const template = args[2] as pkcs11js.Template | undefined;
      if (name !== 'C_GetAttributeValue' || !template || template.length < 2) return;
      if (template.some((a) => a.type === pkcs11js.CKA_UNWRAP || a.type === pkcs11js.CKA_WRAP)) {
        refused++;
        throw new pkcs11js.Pkcs11Error('CKR_ATTRIBUTE_TYPE_INVALID:18', pkcs11js.CKR_ATTRIBUTE_TYPE_INVALID, 'C_GetAttributeValue');
      }
    });
    assert.ok(refused > 0, 'the fault was injected');
    assert.ok(calls.C_GetAttributeValue! > 2 * refused, 'the usage was then read attribute by attribute');
  });
});
