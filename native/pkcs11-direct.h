// p11-ksp: one C_GetAttributeValue with caller-provided buffers on a PKCS#11
// module that pkcs11js already loaded (see pkcs11-direct.cc).
#ifndef P11KSP_NATIVE_PKCS11_DIRECT_H_
#define P11KSP_NATIVE_PKCS11_DIRECT_H_

#include <napi.h>

namespace p11ksp {

// Adds getAttributeValueInto and probePkcs11Module to the addon's exports.
void RegisterPkcs11Direct(Napi::Env env, Napi::Object exports);

}  // namespace p11ksp

#endif  // P11KSP_NATIVE_PKCS11_DIRECT_H_
