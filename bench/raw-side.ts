// The raw pkcs11js side of the comparison: the same initialised module instance as the bridge
// (module-registry's acquireModule), its own sessions and login, the same key found by label.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { acquireModule, type LoadedModule, releaseModule } from '../pkcs11-bridge/module-registry.js';
import { ckrOf, pk, type Mechanism, type PKCS11, type Pkcs11Handle } from '../pkcs11-bridge/pkcs11.js';

export class RawSide {
  readonly module: LoadedModule;
  readonly pkcs11: PKCS11;
  readonly slot: Pkcs11Handle;
  readonly session: Pkcs11Handle;
  private readonly extra: Pkcs11Handle[] = [];
  private released = false;

  constructor(modulePath: string, label: string, pin: string) {
    this.module = acquireModule(modulePath);
    this.pkcs11 = this.module.pkcs11;
    const slot = this.pkcs11.C_GetSlotList(true).find((s) => this.pkcs11.C_GetTokenInfo(s).label.trimEnd() === label);
    if (!slot) throw new Error(`no token labelled "${label}" in ${modulePath}`);
    this.slot = slot;
    this.session = this.openSession();
    try {
      this.pkcs11.C_Login(this.session, pk.CKU_USER, pin);
    } catch (err) {
      if (ckrOf(err) !== pk.CKR_USER_ALREADY_LOGGED_IN) throw err; // login is per application
    }
  }

  /** A further session (for async calls: one operation per session). Closed by close(). */
  openSession(): Pkcs11Handle {
    const s = this.pkcs11.C_OpenSession(this.slot, pk.CKF_SERIAL_SESSION | pk.CKF_RW_SESSION);
    if (this.session) this.extra.push(s);
    return s;
  }

  /** The one object of a class with this CKA_LABEL. */
  findByLabel(cls: number, label: string): Pkcs11Handle {
    this.pkcs11.C_FindObjectsInit(this.session, [{ type: pk.CKA_CLASS, value: cls }, { type: pk.CKA_LABEL, value: label }]);
    let found: Pkcs11Handle[];
    try {
      found = this.pkcs11.C_FindObjects(this.session, 2);
    } finally {
      this.pkcs11.C_FindObjectsFinal(this.session);
    }
    if (found.length !== 1) throw new Error(`expected one object of class ${cls} labelled "${label}", found ${found.length}`);
    return found[0];
  }

  id(object: Pkcs11Handle): Buffer {
    return this.pkcs11.C_GetAttributeValue(this.session, object, [{ type: pk.CKA_ID }])[0].value as Buffer;
  }

  /** An RSA public key object as node:crypto's KeyObject, from the token's CKA_MODULUS and CKA_PUBLIC_EXPONENT. */
  rsaPublicKey(object: Pkcs11Handle): KeyObject {
    const [n, e] = this.pkcs11.C_GetAttributeValue(this.session, object, [{ type: pk.CKA_MODULUS }, { type: pk.CKA_PUBLIC_EXPONENT }]).map((a) => a.value as Buffer);
    return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
  }

  verify(mechanism: Mechanism, publicKey: Pkcs11Handle, data: Buffer, signature: Buffer): boolean {
    this.pkcs11.C_VerifyInit(this.session, mechanism, publicKey);
    return this.pkcs11.C_Verify(this.session, data, signature);
  }

  /** Closes the raw sessions (never the last one of the token: the bridge's anchor stays) and drops our reference. */
  close(): void {
    if (this.released) return;
    this.released = true;
    for (const s of [...this.extra, this.session]) {
      try { this.pkcs11.C_CloseSession(s); } catch { /* already gone */ }
    }
    releaseModule(this.module);
  }
}
