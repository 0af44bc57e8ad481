/**
 * Root hooks of the pkcs11-bridge suite (hooks outside any describe apply to the whole run).
 *
 * - SoftHSM2 is C_Initialize'd once here, by a plain pkcs11js loader that is never finalised, after
 *   every test file has created its tokens at load time. Drivers therefore meet
 *   CKR_CRYPTOKI_ALREADY_INITIALIZED and never C_Finalize the library under graphene or another
 *   driver, whatever order the files run in.
 * - At the end, every driver the suite created must have been closed (its module references released).
 */
import assert from 'node:assert/strict';
import { moduleReferences } from '../../pkcs11-bridge/index.js';
import { loadModule } from '../rigs/index.js';
import { createdDrivers, SOFTHSM2_MODULE } from './helpers.js';

before(function () {
  loadModule(SOFTHSM2_MODULE);
});

after(function () {
  for (const path of new Set(createdDrivers().map((d) => d.modulePath))) {
    assert.equal(moduleReferences(path), 0, `a pkcs11-bridge test left a driver on ${path} open`);
  }
});
