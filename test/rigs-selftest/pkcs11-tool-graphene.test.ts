import assert from 'node:assert/strict';
import pkcs11js from 'pkcs11js';
import {
  createSoftHsm, deleteKeyPair, findSlotByLabel, generateKeyPair, listObjects, loadModule, openGrapheneModule,
  Pkcs11ToolError, readKey, readKeys, type Handle, type Pkcs11, type Pkcs11ToolToken,
} from '../rigs/index.js';

const CKS_RO_PUBLIC_SESSION = 0;
const CKS_RO_USER_FUNCTIONS = 1;

const rig = createSoftHsm({ tokens: [{ label: 'rigtest-tool' }] });
const tokenSpec = rig.token('rigtest-tool');
const token: Pkcs11ToolToken = { modulePath: rig.modulePath, label: tokenSpec.label, pin: tokenSpec.pin };
const query = { modulePath: rig.modulePath, tokenLabel: token.label, pin: token.pin };

describe('rigs: pkcs11-tool and graphene-pk11 on one token', () => {
  // "Our code": a pkcs11js loader with a session open on the token for the whole suite, so every
  // graphene call below runs while another user of the same library instance is active.
  let ours: Pkcs11;
  let session: Handle;

  before(() => {
    ours = loadModule(rig.modulePath).pkcs11;
    session = ours.C_OpenSession(findSlotByLabel(ours, token.label), pkcs11js.CKF_SERIAL_SESSION);
  });

  after(() => {
    ours.C_CloseSession(session);
  });

  it('graphene opens the module already initialised by pkcs11js, and again, without finalising it', () => {
    openGrapheneModule(rig.modulePath);
    openGrapheneModule(rig.modulePath);
    assert.equal(ours.C_GetSessionInfo(session).state, CKS_RO_PUBLIC_SESSION, 'our session still valid');
  });

  it('an RSA key pair made by pkcs11-tool is listed by it and read back by graphene', () => {
    generateKeyPair(token, { keyType: 'rsa:2048', id: '0a0b', label: 'tool-rsa' });
    const listed = listObjects(token).filter((o) => o.id === '0a0b');
    assert.deepEqual(listed.map((o) => o.kind).sort(), ['Private Key', 'Public Key']);
    assert.ok(listed.every((o) => o.label === 'tool-rsa'));

    const privateKey = readKey({ ...query, id: '0a0b', class: 'CKO_PRIVATE_KEY' });
    assert.equal(privateKey.keyType, 'CKK_RSA');
    assert.equal(privateKey.label, 'tool-rsa');
    assert.equal(privateKey.id, '0a0b');
    assert.equal(privateKey.token, true);
    assert.equal(privateKey.private, true);
    assert.equal(privateKey.sensitive, true);
    assert.equal(privateKey.extractable, false);
    assert.equal(privateKey.sign, true);
    assert.equal(privateKey.modulusBits, 2048);

    const publicKey = readKey({ ...query, keyLabel: 'tool-rsa', class: 'CKO_PUBLIC_KEY' });
    assert.equal(publicKey.modulusBits, 2048);
    assert.equal(publicKey.publicExponent, '010001');
    assert.equal(publicKey.verify, true);
  });

  it('an EC P-256 key pair made by pkcs11-tool is read back by graphene', () => {
    generateKeyPair(token, { keyType: 'EC:prime256v1', id: '0c', label: 'tool-ec' });
    const keys = readKeys({ ...query, keyLabel: 'tool-ec' });
    assert.deepEqual(keys.map((k) => k.class).sort(), ['CKO_PRIVATE_KEY', 'CKO_PUBLIC_KEY']);
    for (const key of keys) {
      assert.equal(key.keyType, 'CKK_EC');
      assert.equal(key.ecParams, '06082a8648ce3d030107', 'P-256 OID');
    }
    assert.match(keys.find((k) => k.class === 'CKO_PUBLIC_KEY')?.ecPoint ?? '', /^044104/);
  });

  it('without a PIN graphene sees only the public keys', () => {
    const keys = readKeys({ modulePath: rig.modulePath, tokenLabel: token.label, id: '0a0b' });
    assert.deepEqual(keys.map((k) => k.class), ['CKO_PUBLIC_KEY']);
  });

  it('keys made by another process show up in ours without re-initialising', () => {
    ours.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_ID, value: Buffer.from('0c', 'hex') }]);
    const found = ours.C_FindObjects(session, 10);
    ours.C_FindObjectsFinal(session);
    assert.equal(found.length, 1, 'the public key (the private one needs a login)');
  });

  it('graphene leaves the process login state as it found it', () => {
    readKeys({ ...query, id: '0a0b' }); // logs in and out itself
    assert.equal(ours.C_GetSessionInfo(session).state, CKS_RO_PUBLIC_SESSION);

    ours.C_Login(session, pkcs11js.CKU_USER, token.pin);
    try {
      assert.equal(readKeys({ ...query, id: '0a0b' }).length, 2, 'CKR_USER_ALREADY_LOGGED_IN accepted');
      assert.equal(ours.C_GetSessionInfo(session).state, CKS_RO_USER_FUNCTIONS, 'still logged in');
    } finally {
      ours.C_Logout(session);
    }
  });

  it('objects deleted by pkcs11-tool are gone for graphene', () => {
    deleteKeyPair(token, '0c');
    assert.deepEqual(readKeys({ ...query, id: '0c' }), []);
    assert.throws(() => deleteKeyPair(token, '0c'), (e: unknown) => e instanceof Pkcs11ToolError && /not found/.test(e.stderr));
    assert.equal(readKeys({ ...query, id: '0a0b' }).length, 2, 'the other pair stays');
  });

  it('pkcs11-tool errors carry the CKR name and hide the PIN', () => {
    assert.throws(() => listObjects({ ...token, pin: 'wrong-pin' }), (e: unknown) =>
      e instanceof Pkcs11ToolError && /CKR_PIN_INCORRECT/.test(e.stderr) && !e.message.includes('wrong-pin'));
  });
});
