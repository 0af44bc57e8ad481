// p11-ksp: direct calls (one C_GetAttributeValue into caller buffers, the two
// calls of a single-part signature or decryption) on a PKCS#11 module that
// pkcs11js already loaded (see pkcs11-direct.cc).
#ifndef P11KSP_NATIVE_PKCS11_DIRECT_H_
#define P11KSP_NATIVE_PKCS11_DIRECT_H_

#include <napi.h>

namespace p11ksp {

// Adds probePkcs11Module, getAttributeValueInto, pkcs11ModuleIndex and
// singlePartInto to the addon's exports.
void RegisterPkcs11Direct(Napi::Env env, Napi::Object exports);

}  // namespace p11ksp

#endif  // P11KSP_NATIVE_PKCS11_DIRECT_H_
