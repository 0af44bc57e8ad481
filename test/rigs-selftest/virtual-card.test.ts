import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import {
  findSlotByLabel, isPkcs11Error, listTokens, loadModule, OPENSC_MODULE, pkcs11ErrorCode, runPkcs11Tool, startVirtualCard,
  type Handle, type Pkcs11, type VirtualCard,
} from '../rigs/index.js';

const USER_PIN_FLAGS = pkcs11js.CKF_USER_PIN_COUNT_LOW | pkcs11js.CKF_USER_PIN_FINAL_TRY | pkcs11js.CKF_USER_PIN_LOCKED;
const SESSION = pkcs11js.CKF_SERIAL_SESSION;
const DATA = Buffer.from('p11-ksp virtual card selftest');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('rigs: virtual smart card (OpenSC -> private pcscd -> vpcd -> vcard-glue -> libcacard)', function () {
  this.timeout(120_000);
  let card: VirtualCard;
  let p11: Pkcs11;
  let slot: Handle;

  const findOne = (session: Handle, template: pkcs11js.Template): Handle => {
    p11.C_FindObjectsInit(session, template);
    const found = p11.C_FindObjects(session, 2);
    p11.C_FindObjectsFinal(session);
    assert.equal(found.length, 1, `one object for ${JSON.stringify(template)}`);
    return found[0];
  };
  const privateKey = (session: Handle, id: string) =>
    findOne(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') }]);
  const sign = (session: Handle, key: Handle): Buffer => {
    p11.C_SignInit(session, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, key);
    return p11.C_Sign(session, DATA, Buffer.alloc(512));
  };
  const pinFlags = () => p11.C_GetTokenInfo(slot).flags & USER_PIN_FLAGS;
  const tryLogin = (pin: string) => {
    const session = p11.C_OpenSession(slot, SESSION);
    try {
      p11.C_Login(session, pkcs11js.CKU_USER, pin);
      p11.C_Logout(session);
    } finally {
      p11.C_CloseSession(session);
    }
  };

  before(async () => {
    card = await startVirtualCard({ maxTries: 3 });
    // After start(): PCSCLITE_CSOCK_NAME is set, so OpenSC's libpcsclite finds the private pcscd.
    const loaded = loadModule(OPENSC_MODULE);
    assert.equal(loaded.initializedHere, true);
    p11 = loaded.pkcs11;
    slot = findSlotByLabel(p11, card.label);
    console.log(`      [virtual card] started in ${card.startupMs.toFixed(0)} ms; label "${card.label}", serial ${card.serial}, ATR ${card.atr}`);
  });

  after(async () => {
    p11?.C_Finalize();
    const pids = card?.pids ?? [];
    await card?.stop();
    for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} stopped`);
    if (card) assert.equal(existsSync(card.socketPath), false, 'private pcscd socket removed');
    if (card) assert.equal(existsSync(card.dir), false, 'rig directory removed');
  });

  it('runs pcscd privately: its socket in a temp dir, the test process pointed at it', () => {
    assert.equal(process.env.PCSCLITE_CSOCK_NAME, card.socketPath);
    assert.ok(existsSync(card.socketPath));
    assert.ok(!card.socketPath.startsWith('/run/'), 'not the system pcscd');
    assert.equal(card.pids.length, 2);
    for (const pid of card.pids) assert.ok(isAlive(pid));
    assert.equal(card.atr, '3B7A18000073667465206364313434', "libcacard 2.8's CAC ATR");
  });

  it('shows one CAC token with 3 certificates (CKA_ID 0001..0003) that are the certificates made for it', () => {
    const tokens = listTokens(p11).filter((t) => t.label === card.label);
    assert.equal(tokens.length, 1);
    assert.equal(tokens[0].serial, card.serial);
    const info = p11.C_GetTokenInfo(slot);
    assert.match(info.manufacturerID, /Common Access Card/);
    assert.ok(info.flags & pkcs11js.CKF_LOGIN_REQUIRED);
    assert.equal(info.flags & USER_PIN_FLAGS, 0);
    const session = p11.C_OpenSession(slot, SESSION);
    try {
      assert.equal(card.keys.length, 3);
      for (const key of card.keys) {
        const cert = findOne(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE }, { type: pkcs11js.CKA_ID, value: Buffer.from(key.id, 'hex') }]);
        const [value] = p11.C_GetAttributeValue(session, cert, [{ type: pkcs11js.CKA_VALUE }]);
        assert.deepEqual(value.value, key.certificate.raw, `certificate ${key.id}`);
        assert.ok(key.certificate.checkIssued(new X509Certificate(card.caCertPem)), 'issued by the rig CA');
      }
    } finally {
      p11.C_CloseSession(session);
    }
  });

  it('logs in with the PIN, shows the 3 private keys, and signs: node:crypto verifies with the certificate key', () => {
    const session = p11.C_OpenSession(slot, SESSION);
    try {
      p11.C_Login(session, pkcs11js.CKU_USER, card.pin);
      for (const key of card.keys) {
        const handle = privateKey(session, key.id);
        const signature = sign(session, handle);
        assert.equal(signature.length, 256);
        assert.ok(verifySignature('sha256', DATA, key.publicKey, signature), `signature of key ${key.id}`);
      }
      // One warm signature (C_SignInit + C_Sign), median of 20.
      const handle = privateKey(session, card.keys[0].id);
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        sign(session, handle);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      console.log(`      [virtual card] RSA-2048 SHA256-RSA-PKCS signature: median ${times[10].toFixed(2)} ms (min ${times[0].toFixed(2)})`);
      p11.C_Logout(session);
    } finally {
      p11.C_CloseSession(session);
    }
  });

  it('works for pkcs11-tool in a child process too (PIN from the environment, not argv)', () => {
    const env = { ...process.env, ...card.env, P11KSP_VCARD_PIN: card.pin };
    const listed = runPkcs11Tool(['--module', OPENSC_MODULE, '--token-label', card.label, '--list-objects', '--type', 'cert'], env);
    assert.equal((listed.match(/Certificate Object/g) ?? []).length, 3);
    const digest = createHash('sha256').update(DATA).digest();
    const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), digest]);
    const signature = execPkcs11ToolSign(env, card.label, digestInfo);
    assert.ok(verifySignature('sha256', DATA, card.keys[1].publicKey, signature));
  });

  it('counts wrong PINs like a card: INCORRECT, FINAL_TRY with one left, LOCKED; blocks the right PIN', () => {
    assert.equal(card.wrongPinTriesMax, 3);
    assert.equal(pinFlags(), 0);
    assert.throws(() => tryLogin('0000'), isPkcs11Error(pkcs11js.CKR_PIN_INCORRECT));
    assert.throws(() => tryLogin('0000'), isPkcs11Error(pkcs11js.CKR_PIN_INCORRECT));
    assert.ok(pinFlags() & pkcs11js.CKF_USER_PIN_FINAL_TRY, 'final try flag with one try left');
    assert.throws(() => tryLogin('0000'), isPkcs11Error(pkcs11js.CKR_PIN_INCORRECT)); // 63 C0, as a card answers
    assert.ok(pinFlags() & pkcs11js.CKF_USER_PIN_LOCKED);
    assert.throws(() => tryLogin(card.pin), isPkcs11Error(pkcs11js.CKR_PIN_LOCKED));
    assert.throws(() => tryLogin('0000'), isPkcs11Error(pkcs11js.CKR_PIN_LOCKED));
  });

  it('unblocks (rig only: SIGHUP to the glue) and a right PIN resets the count', async () => {
    await card.unblockPin();
    assert.equal(pinFlags(), 0, 'three tries again');
    assert.throws(() => tryLogin('0000'), isPkcs11Error(pkcs11js.CKR_PIN_INCORRECT));
    assert.equal(pinFlags() & pkcs11js.CKF_USER_PIN_FINAL_TRY, 0, 'two left');
    tryLogin(card.pin);
    assert.throws(() => tryLogin('0000'), isPkcs11Error(pkcs11js.CKR_PIN_INCORRECT));
    assert.throws(() => tryLogin('0000'), isPkcs11Error(pkcs11js.CKR_PIN_INCORRECT));
    assert.ok(pinFlags() & pkcs11js.CKF_USER_PIN_FINAL_TRY, 'the right PIN had reset the count to 3');
    tryLogin(card.pin);
    assert.equal(pinFlags(), 0);
  });

  it('a removal fails the open session and empties the slot; an insertion brings the card back', async () => {
    const session = p11.C_OpenSession(slot, SESSION);
    p11.C_Login(session, pkcs11js.CKU_USER, card.pin);
    const key = privateKey(session, card.keys[0].id);
    sign(session, key);

    await card.remove();
    assert.equal(card.inserted, false);
    let code: number | undefined;
    try {
      sign(session, key);
    } catch (error) {
      code = pkcs11ErrorCode(error);
    }
    assert.equal(code, pkcs11js.CKR_DEVICE_REMOVED, `sign after removal: got 0x${code?.toString(16)}`);
    assert.equal(listTokens(p11).some((t) => t.label === card.label), false, 'no token in the slot list');
    assert.throws(() => p11.C_GetTokenInfo(slot), isPkcs11Error(pkcs11js.CKR_TOKEN_NOT_PRESENT));
    assert.throws(() => p11.C_OpenSession(slot, SESSION), isPkcs11Error(pkcs11js.CKR_TOKEN_NOT_PRESENT));

    await card.insert();
    assert.equal(findSlotByLabel(p11, card.label).equals(slot), true, 'same slot, same token');
    assert.throws(() => p11.C_GetSessionInfo(session), isPkcs11Error(pkcs11js.CKR_SESSION_HANDLE_INVALID));
    const fresh = p11.C_OpenSession(slot, SESSION);
    try {
      p11.C_Login(fresh, pkcs11js.CKU_USER, card.pin);
      const signature = sign(fresh, privateKey(fresh, card.keys[0].id));
      assert.ok(verifySignature('sha256', DATA, card.keys[0].publicKey, signature));
      p11.C_Logout(fresh);
    } finally {
      p11.C_CloseSession(fresh);
    }
  });
});

/** pkcs11-tool --sign of a DigestInfo with CKM_RSA_PKCS and key 0002; the PIN comes from env. */
function execPkcs11ToolSign(env: NodeJS.ProcessEnv, label: string, digestInfo: Buffer): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'p11ksp-vcard-sign-'));
  try {
    const input = join(dir, 'digest-info.bin');
    const output = join(dir, 'signature.bin');
    writeFileSync(input, digestInfo);
    execFileSync('pkcs11-tool', ['--module', OPENSC_MODULE, '--token-label', label, '--login', '--pin', 'env:P11KSP_VCARD_PIN',
      '--sign', '--id', '0002', '--mechanism', 'RSA-PKCS', '--input-file', input, '--output-file', output],
    { env, stdio: 'pipe' });
    return readFileSync(output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
