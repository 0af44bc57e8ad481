import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { existsSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import {
  createSoftHsm, findSlotByLabel, generateKeyPair, isPkcs11Error, listTokens, loadModule, P11KIT_CLIENT_MODULE,
  pkcs11UriEscape, runPkcs11Tool, startP11KitRemote, type Handle, type P11KitRemote, type Pkcs11,
} from '../rigs/index.js';

// Tokens at the top level, like every SoftHSM2 test file: the server is another process (it sees
// tokens whenever it starts), but the in-process comparison below needs them before C_Initialize.
const store = createSoftHsm({ tokens: [{ label: 'rigtest-remote-a' }, { label: 'rigtest remote b' }] });
const token = store.token('rigtest-remote-a');
const DATA = Buffer.from('p11-ksp remote HSM selftest');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('rigs: remote HSM (p11-kit-client -> p11-kit server -> SoftHSM2)', function () {
  this.timeout(60_000);
  let remote: P11KitRemote;
  let client: Pkcs11;
  let slot: Handle;

  before(async () => {
    // A key pair made on the server's side with pkcs11-tool, straight on SoftHSM2.
    generateKeyPair({ modulePath: store.modulePath, label: token.label, pin: token.pin },
      { keyType: 'rsa:2048', id: '0c01', label: 'remote-rsa' });
    remote = await startP11KitRemote({ label: token.label });
    const loaded = remote.loadClient();
    assert.equal(loaded.initializedHere, true);
    client = loaded.pkcs11;
    slot = findSlotByLabel(client, token.label);
    console.log(`      [remote HSM] server listening after ${remote.startupMs.toFixed(0)} ms`);
  });

  after(async () => {
    client?.C_Finalize();
    const pid = remote?.pid;
    await remote?.stop();
    if (pid !== undefined) assert.equal(isAlive(pid), false, 'server stopped');
    if (remote) assert.equal(existsSync(remote.dir), false, 'socket directory removed');
  });

  it('serves only the named token, on a socket in a private temp dir', () => {
    assert.equal(client.libPath, P11KIT_CLIENT_MODULE);
    assert.equal(process.env.P11_KIT_SERVER_ADDRESS, remote.address);
    assert.ok(existsSync(remote.socketPath));
    assert.match(remote.address, /^unix:path=.*p11ksp-p11kit-/);
    const labels = listTokens(client).map((t) => t.label);
    assert.deepEqual(labels, [token.label], 'the other SoftHSM2 tokens stay local');
    assert.equal(listTokens(client)[0].serial, token.serial);
    assert.equal(pkcs11UriEscape('rigtest remote b'), 'rigtest%20remote%20b');
  });

  it('signs through the client module; node:crypto verifies with the public key read remotely', () => {
    const session = client.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    try {
      assert.throws(() => client.C_Login(session, pkcs11js.CKU_USER, 'wrong'), isPkcs11Error(pkcs11js.CKR_PIN_INCORRECT));
      client.C_Login(session, pkcs11js.CKU_USER, token.pin);
      const find = (cls: number): Handle => {
        client.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: cls }, { type: pkcs11js.CKA_ID, value: Buffer.from('0c01', 'hex') }]);
        const [handle] = client.C_FindObjects(session, 1);
        client.C_FindObjectsFinal(session);
        assert.ok(handle);
        return handle;
      };
      const key = find(pkcs11js.CKO_PRIVATE_KEY);
      const [modulus, exponent] = client.C_GetAttributeValue(session, find(pkcs11js.CKO_PUBLIC_KEY),
        [{ type: pkcs11js.CKA_MODULUS }, { type: pkcs11js.CKA_PUBLIC_EXPONENT }]);
      const publicKey = createPublicKey({ format: 'jwk', key: {
        kty: 'RSA', n: (modulus.value as Buffer).toString('base64url'), e: (exponent.value as Buffer).toString('base64url') } });
      const sign = () => {
        client.C_SignInit(session, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, key);
        return client.C_Sign(session, DATA, Buffer.alloc(256));
      };
      assert.ok(verify('sha256', DATA, publicKey, sign()));
      const times: number[] = [];
      for (let i = 0; i < 50; i++) {
        const t = performance.now();
        sign();
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      console.log(`      [remote HSM] RSA-2048 signature through p11-kit: median ${times[25].toFixed(2)} ms`);
      client.C_Logout(session);
    } finally {
      client.C_CloseSession(session);
    }
  });

  it('is what pkcs11-tool sees through the client module in a child process', () => {
    const out = runPkcs11Tool(['--module', P11KIT_CLIENT_MODULE, '--list-token-slots'], { ...process.env, ...remote.env });
    assert.match(out, new RegExp(`token label\\s*:\\s*${token.label}\\s*$`, 'm'));
  });

  it('binds the address at load: a second server is a second module instance in the same process', async () => {
    const second = await startP11KitRemote({ label: 'rigtest remote b' });
    try {
      const other = second.loadClient();
      try {
        assert.deepEqual(listTokens(other.pkcs11).map((t) => t.label), ['rigtest remote b']);
        assert.deepEqual(listTokens(client).map((t) => t.label), [token.label], 'the first client keeps its server');
      } finally {
        if (other.initializedHere) other.pkcs11.C_Finalize();
      }
    } finally {
      await second.stop();
      process.env.P11_KIT_SERVER_ADDRESS = remote.address;
    }
  });

  it('the same token in-process (SoftHSM2 loaded directly) has a different slot ID', () => {
    const local = loadModule(store.modulePath).pkcs11; // the bridge's root hook owns its initialisation
    const localSlot = findSlotByLabel(local, token.label);
    assert.equal(listTokens(local).find((t) => t.label === token.label)?.serial, token.serial);
    assert.notDeepEqual(localSlot, slot, 'select by label or serial, never by slot ID');
  });
});
