import { strict as assert } from 'node:assert';
import { hresultFromWin32, windowsCodeName } from '../../minidriver/codes.js';
import { CryptError } from '../../minidriver/errors.js';

describe('minidriver: Windows code names', () => {
  it('names NTE_*, SCARD_* and Win32 codes by their value', () => {
    assert.equal(windowsCodeName(0x80090016), 'NTE_BAD_KEYSET');
    assert.equal(windowsCodeName(0x8010000c), 'SCARD_E_NO_SMARTCARD');
    assert.equal(windowsCodeName(0x57), 'ERROR_INVALID_PARAMETER');
  });

  it('names a Win32 code wrapped as an HRESULT after the code it wraps (ncrypt.dll N2)', () => {
    const code = hresultFromWin32(0x6f4);
    assert.equal(code, 0x800706f4);
    assert.equal(windowsCodeName(code), 'HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER)');
    const error = new CryptError(code, 'the hash is required');
    assert.equal(error.codeName, 'HRESULT_FROM_WIN32(RPC_X_NULL_REF_POINTER)');
    assert.equal(error.code, 0x800706f4);
  });

  it('gives codes it does not know in hex', () => {
    assert.equal(windowsCodeName(0x8007ffff), '0x8007ffff');
    assert.equal(windowsCodeName(0x12345678), '0x12345678');
  });
});
