// p11-ksp: direct calls on a PKCS#11 module that pkcs11js has already loaded
// and initialised in this process.
//
// pkcs11js reads attributes in two C_GetAttributeValue calls (the lengths,
// then the values). When the caller knows the lengths (a file object whose
// label is its path and whose value length was seen at the previous read), one
// call with preallocated buffers is enough: design decision 4, minimum token
// I/O. getAttributeValueInto makes that one call.
//
// A warm signature or decryption is two calls whatever the binding
// (C_SignInit + C_Sign, C_DecryptInit + C_Decrypt); singlePartInto makes both
// in one crossing into native code, where pkcs11js goes through two JavaScript
// wrappers per call and cuts a view of the output. On a fast key (ECDSA P-256
// on SoftHSM2, ~75 us) that difference is about 5 % of the operation.
//
// The module is never loaded here: dlopen(path, RTLD_NOW | RTLD_NOLOAD) only
// succeeds for a library already in the process (the instance pkcs11js
// dlopen'ed, same link map, same static state, same C_Initialize), and fails
// otherwise ("not available"; the caller falls back to pkcs11js). The handle
// NOLOAD returns carries a reference that is kept for the life of the process,
// so the function list cached from it can never dangle, even after pkcs11js
// closes the module; a finalised module answers CKR_CRYPTOKI_NOT_INITIALIZED.
// C_GetFunctionList and C_GetInfo are asked once per path served (pkcs11-spy logs
// them as calls): C_GetInfo proves the list is the initialised instance
// (p11-kit's client hands every caller a new one; that path is refused, and
// pkcs11js serves it).
//
// The few PKCS#11 ABI types needed are defined here, not taken from a header:
// the addon builds at `npm install` with no -dev package. POSIX only (as the
// rest of the addon): CK_ULONG is the C `unsigned long`, and Cryptoki
// structures use the compiler's default packing (1-byte packing is a Windows
// rule).
//
// Robustness: wrong argument types are a JavaScript TypeError, out-of-range
// numbers a RangeError; every JavaScript value is fetched (which may run
// getters) before any pointer into JavaScript memory is taken, and nothing
// runs JavaScript between taking those pointers and the C call.

#include "pkcs11-direct.h"

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#if defined(_WIN32)
#error "pkcs11-direct supports POSIX systems only"
#endif

namespace p11ksp {
namespace {

// ---- PKCS#11 ABI (v2.40 / 3.0: pkcs11t.h, pkcs11f.h) -------------------------

using CkUlong = unsigned long;  // CK_ULONG
using CkRv = CkUlong;           // CK_RV

struct CkVersion {  // CK_VERSION
  unsigned char major;
  unsigned char minor;
};

struct CkAttribute {  // CK_ATTRIBUTE
  CkUlong type;
  void* pValue;
  CkUlong ulValueLen;
};

using CkAnyFunction = CkRv (*)();
using CkGetAttributeValue = CkRv (*)(CkUlong hSession, CkUlong hObject,
                                     CkAttribute* pTemplate, CkUlong ulCount);

struct CkMechanism {  // CK_MECHANISM
  CkUlong mechanism;
  void* pParameter;
  CkUlong ulParameterLen;
};

// C_SignInit / C_DecryptInit, and C_Sign / C_Decrypt (the same shapes).
using CkOperationInit = CkRv (*)(CkUlong hSession, CkMechanism* pMechanism, CkUlong hKey);
using CkSinglePart = CkRv (*)(CkUlong hSession, unsigned char* pIn, CkUlong ulInLen,
                              unsigned char* pOut, CkUlong* pulOutLen);

// The head of CK_FUNCTION_LIST (CK_FUNCTION_LIST_3_0 starts the same way):
// the version, then the function pointers in the standard's order (pkcs11f.h).
// C_GetAttributeValue is the 25th: C_Initialize, C_Finalize, C_GetInfo,
// C_GetFunctionList, C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo,
// C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN,
// C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo,
// C_GetOperationState, C_SetOperationState, C_Login, C_Logout, C_CreateObject,
// C_CopyObject, C_DestroyObject, C_GetObjectSize, then C_GetAttributeValue.
// Then C_SetAttributeValue, C_FindObjectsInit, C_FindObjects,
// C_FindObjectsFinal, C_EncryptInit, C_Encrypt, C_EncryptUpdate,
// C_EncryptFinal; C_DecryptInit (34th), C_Decrypt; C_DecryptUpdate,
// C_DecryptFinal, C_DigestInit, C_Digest, C_DigestUpdate, C_DigestKey,
// C_DigestFinal; C_SignInit (43rd), C_Sign.
struct CkFunctionListHead {
  CkVersion version;
  CkAnyFunction before[24];
  CkGetAttributeValue C_GetAttributeValue;
  CkAnyFunction setAttributeValueToEncryptFinal[8];
  CkOperationInit C_DecryptInit;
  CkSinglePart C_Decrypt;
  CkAnyFunction decryptUpdateToDigestFinal[7];
  CkOperationInit C_SignInit;
  CkSinglePart C_Sign;
};

using CkGetFunctionList = CkRv (*)(CkFunctionListHead** ppFunctionList);

struct CkInfo {  // CK_INFO
  CkVersion cryptokiVersion;
  unsigned char manufacturerID[32];
  CkUlong flags;
  unsigned char libraryDescription[32];
  CkVersion libraryVersion;
};
using CkGetInfo = CkRv (*)(CkInfo* pInfo);
constexpr size_t kGetInfoIndex = 2;  // C_Initialize, C_Finalize, then C_GetInfo

constexpr CkRv kCkrOk = 0;
constexpr CkRv kCkrCryptokiNotInitialized = 0x190;  // CKR_CRYPTOKI_NOT_INITIALIZED
constexpr CkUlong kUnavailableInformation = ~CkUlong{0};  // CK_UNAVAILABLE_INFORMATION

static_assert(offsetof(CkAttribute, pValue) == sizeof(CkUlong) ||
                  offsetof(CkAttribute, pValue) == alignof(void*),
              "CK_ATTRIBUTE layout");
static_assert(offsetof(CkFunctionListHead, before) == alignof(CkAnyFunction),
              "CK_FUNCTION_LIST: the first pointer follows CK_VERSION, default alignment");
static_assert(offsetof(CkFunctionListHead, C_GetAttributeValue) ==
                  offsetof(CkFunctionListHead, before) + 24 * sizeof(CkAnyFunction),
              "CK_FUNCTION_LIST: C_GetAttributeValue is the 25th function pointer");
static_assert(offsetof(CkFunctionListHead, C_DecryptInit) ==
                  offsetof(CkFunctionListHead, before) + 33 * sizeof(CkAnyFunction),
              "CK_FUNCTION_LIST: C_DecryptInit is the 34th function pointer");
static_assert(offsetof(CkFunctionListHead, C_SignInit) ==
                  offsetof(CkFunctionListHead, before) + 42 * sizeof(CkAnyFunction),
              "CK_FUNCTION_LIST: C_SignInit is the 43rd function pointer");

// At most this many attributes per call (the bridge uses two).
constexpr uint32_t kMaxTemplates = 64;
// Longest module path accepted (PATH_MAX on Linux).
constexpr size_t kMaxPathBytes = 4096;
// Largest integer a JavaScript number holds exactly.
constexpr double kMaxSafeInteger = 9007199254740991.0;

// ---- modules: path -> function list, resolved once ---------------------------

struct Module {
  std::string path;
  void* handle;  // the NOLOAD reference, never released
  CkFunctionListHead* list;
};

// Leaked on purpose: no static destructor runs while a worker thread may
// still look a module up at process exit.
std::mutex& ModulesMutex() {
  static std::mutex* mutex = new std::mutex;
  return *mutex;
}
std::vector<Module>& Modules() {
  static std::vector<Module>* modules = new std::vector<Module>;
  return *modules;
}

std::string DlError(const char* fallback) {
  const char* e = dlerror();
  return e != nullptr ? std::string(e) : std::string(fallback);
}

// The function list of the module already loaded from `path`, or nullptr with
// the reason in *why; *index (when given) is its place in Modules(), which
// never changes (modules are only ever appended).
CkFunctionListHead* Resolve(const std::string& path, std::string* why, size_t* index = nullptr) {
  std::lock_guard<std::mutex> lock(ModulesMutex());
  for (size_t i = 0; i < Modules().size(); i++) {
    if (Modules()[i].path == path) {
      if (index != nullptr) *index = i;
      return Modules()[i].list;
    }
  }
  dlerror();  // clear
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) {
    *why = "the module is not loaded in this process (" +
           DlError("dlopen with RTLD_NOLOAD failed") + ")";
    return nullptr;
  }
  dlerror();
  void* symbol = dlsym(handle, "C_GetFunctionList");
  if (symbol == nullptr) {
    *why = "the library has no C_GetFunctionList (" +
           DlError("dlsym failed") + ")";
    dlclose(handle);
    return nullptr;
  }
  CkGetFunctionList getFunctionList;
  static_assert(sizeof getFunctionList == sizeof symbol, "function pointer size");
  memcpy(&getFunctionList, &symbol, sizeof getFunctionList);
  CkFunctionListHead* list = nullptr;
  CkRv rv = getFunctionList(&list);
  if (rv != kCkrOk || list == nullptr) {
    *why = "C_GetFunctionList failed (CK_RV 0x" + [rv] {
      char buf[2 * sizeof(CkRv) + 1];
      snprintf(buf, sizeof buf, "%lx", rv);
      return std::string(buf);
    }() + ")";
    dlclose(handle);
    return nullptr;
  }
  if (list->version.major < 2 || list->C_GetAttributeValue == nullptr || list->C_DecryptInit == nullptr ||
      list->C_Decrypt == nullptr || list->C_SignInit == nullptr || list->C_Sign == nullptr) {
    *why = "the module's function list is not a PKCS#11 v2+ list with C_GetAttributeValue, C_DecryptInit, C_Decrypt, C_SignInit and C_Sign";
    dlclose(handle);
    return nullptr;
  }
  // The list must be the instance pkcs11js initialised. Most modules hand every caller the same
  // one; p11-kit's client makes a new, uninitialised instance per C_GetFunctionList, whose
  // calls would all answer CKR_CRYPTOKI_NOT_INITIALIZED. C_GetInfo tells them apart, with no
  // token I/O (callers probe after C_Initialize).
  CkGetInfo getInfo;
  static_assert(sizeof getInfo == sizeof list->before[kGetInfoIndex], "function pointer size");
  memcpy(&getInfo, &list->before[kGetInfoIndex], sizeof getInfo);
  CkInfo moduleInfo;
  if (getInfo == nullptr || getInfo(&moduleInfo) == kCkrCryptokiNotInitialized) {
    *why = "the module's C_GetFunctionList gives another instance than the one initialised in this process "
           "(as p11-kit's client does)";
    dlclose(handle);
    return nullptr;
  }
  if (index != nullptr) *index = Modules().size();
  Modules().push_back(Module{path, handle, list});
  return list;
}

// The function list of the module at `index` (from pkcs11ModuleIndex), or nullptr.
CkFunctionListHead* ByIndex(size_t index) {
  std::lock_guard<std::mutex> lock(ModulesMutex());
  return index < Modules().size() ? Modules()[index].list : nullptr;
}

// ---- argument checks ---------------------------------------------------------

void ThrowTypeError(Napi::Env env, const std::string& msg) {
  Napi::TypeError e = Napi::TypeError::New(env, msg);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  e.ThrowAsJavaScriptException();
}

void ThrowRangeError(Napi::Env env, const std::string& msg) {
  Napi::RangeError e = Napi::RangeError::New(env, msg);
  e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
  e.ThrowAsJavaScriptException();
}

void ThrowNotAvailable(Napi::Env env, const std::string& path, const std::string& why) {
  Napi::Error e = Napi::Error::New(env, "PKCS#11 module " + path + " is not available for direct calls: " + why);
  e.Set("code", Napi::String::New(env, "ERR_PKCS11_NOT_AVAILABLE"));
  e.ThrowAsJavaScriptException();
}

// A module path: a non-empty string without NUL (an empty name would make
// dlopen return the main program).
bool GetPath(Napi::Env env, const Napi::CallbackInfo& info, std::string* out) {
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowTypeError(env, "The \"modulePath\" argument must be of type string");
    return false;
  }
  size_t length = 0;
  if (napi_get_value_string_utf8(env, info[0], nullptr, 0, &length) != napi_ok) {
    ThrowTypeError(env, "cannot read \"modulePath\"");
    return false;
  }
  if (length == 0 || length > kMaxPathBytes) {
    ThrowRangeError(env, "The \"modulePath\" argument must be 1 to " +
                             std::to_string(kMaxPathBytes) + " bytes long");
    return false;
  }
  std::string path(length, '\0');
  size_t copied = 0;
  if (napi_get_value_string_utf8(env, info[0], &path[0], length + 1, &copied) != napi_ok ||
      copied != length) {
    ThrowTypeError(env, "cannot read \"modulePath\"");
    return false;
  }
  if (path.find('\0') != std::string::npos) {
    ThrowTypeError(env, "The \"modulePath\" argument must not contain NUL characters");
    return false;
  }
  *out = std::move(path);
  return true;
}

// A non-negative integer number that fits CK_ULONG (and a JavaScript number).
bool NumberToUlong(Napi::Env env, napi_value v, const std::string& name, CkUlong* out) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    ThrowTypeError(env, "The \"" + name + "\" argument must be of type number");
    return false;
  }
  const double max = std::min(kMaxSafeInteger, static_cast<double>(std::numeric_limits<CkUlong>::max()));
  if (!std::isfinite(d) || d < 0 || d != std::floor(d) || d > max) {
    ThrowRangeError(env, "The value of \"" + name + "\" is out of range. It must be an integer >= 0 and <= " +
                             std::to_string(static_cast<uint64_t>(max)));
    return false;
  }
  *out = static_cast<CkUlong>(d);
  return true;
}

bool IsUint8Array(napi_env env, napi_value v) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  size_t length = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, nullptr, nullptr, nullptr) != napi_ok) return false;
  return type == napi_uint8_array;
}

// A Uint8Array's bytes, for a call (no JavaScript runs between reading the
// pointer and the call). `name` and `kind` name the value in messages
// ("input", "argument"; "templates[0].value", "property"); strings are only
// built for a message. A zero-length array gets a non-NULL pointer (NULL
// would be a length query to the module).
bool GetBytes(Napi::Env env, napi_value v, const char* name, const char* kind, unsigned char** data, CkUlong* length) {
  static unsigned char empty;
  if (!IsUint8Array(env, v)) {
    ThrowTypeError(env, std::string("The \"") + name + "\" " + kind + " must be a Buffer or Uint8Array");
    return false;
  }
  napi_typedarray_type type;
  size_t bytes = 0;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &bytes, &p, nullptr, nullptr) != napi_ok) {
    ThrowTypeError(env, std::string("cannot read \"") + name + "\"");
    return false;
  }
  if (bytes > std::numeric_limits<CkUlong>::max()) {
    ThrowRangeError(env, std::string("\"") + name + "\" is too large");
    return false;
  }
  *data = (bytes == 0 || p == nullptr) ? &empty : static_cast<unsigned char*>(p);
  *length = static_cast<CkUlong>(bytes);
  return true;
}

// A session or object handle: pkcs11js's form (a Buffer of sizeof(CK_ULONG)
// bytes holding the CK_ULONG in native byte order) or an integer number.
bool GetHandle(Napi::Env env, napi_value v, const char* name, CkUlong* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) t = napi_undefined;
  if (t == napi_number) return NumberToUlong(env, v, name, out);
  if (IsUint8Array(env, v)) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok) {
      ThrowTypeError(env, std::string("cannot read \"") + name + "\"");
      return false;
    }
    if (length != sizeof(CkUlong) || data == nullptr) {
      ThrowRangeError(env, std::string("The \"") + name + "\" handle Buffer must be " +
                               std::to_string(sizeof(CkUlong)) + " bytes long (a CK_ULONG in native byte order)");
      return false;
    }
    memcpy(out, data, sizeof(CkUlong));
    return true;
  }
  ThrowTypeError(env, std::string("The \"") + name + "\" argument must be a handle Buffer or a number");
  return false;
}

// ---- exports -----------------------------------------------------------------

// probePkcs11Module(modulePath) -> null when the module is loaded in this
// process and usable for direct calls, else the reason (a string).
Napi::Value ProbePkcs11Module(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!GetPath(env, info, &path)) return env.Undefined();
  std::string why;
  if (Resolve(path, &why) == nullptr) return Napi::String::New(env, why);
  return env.Null();
}

// getAttributeValueInto(modulePath, session, object, templates)
//   templates: [{ type: number, value: Uint8Array }, ...]
// One C_GetAttributeValue(session, object, template, n) with each pValue the
// caller's buffer and ulValueLen its length. Returns { rv, lengths }: the
// CK_RV, and per attribute the ulValueLen the module left (the value's length
// on success; -1 for CK_UNAVAILABLE_INFORMATION, e.g. a buffer too small).
// The call is made whatever the CK_RV: deciding what it means is the caller's.
Napi::Value GetAttributeValueInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) {
    ThrowTypeError(env, "getAttributeValueInto(modulePath, session, object, templates) takes 4 arguments");
    return env.Undefined();
  }
  std::string path;
  if (!GetPath(env, info, &path)) return env.Undefined();
  CkUlong session = 0;
  CkUlong object = 0;
  if (!GetHandle(env, info[1], "session", &session)) return env.Undefined();
  if (!GetHandle(env, info[2], "object", &object)) return env.Undefined();

  // Pass 1: fetch every JavaScript value (array elements and properties may be
  // getters or proxies and run code).
  napi_value templates = info[3];
  bool isArray = false;
  if (napi_is_array(env, templates, &isArray) != napi_ok || !isArray) {
    ThrowTypeError(env, "The \"templates\" argument must be an array of { type, value }");
    return env.Undefined();
  }
  uint32_t count = 0;
  if (napi_get_array_length(env, templates, &count) != napi_ok) {
    ThrowTypeError(env, "cannot read \"templates\"");
    return env.Undefined();
  }
  if (count > kMaxTemplates) {
    ThrowRangeError(env, "at most " + std::to_string(kMaxTemplates) + " attributes per call");
    return env.Undefined();
  }
  std::vector<napi_value> types(count);
  std::vector<napi_value> values(count);
  for (uint32_t i = 0; i < count; i++) {
    const std::string at = "templates[" + std::to_string(i) + "]";
    napi_value element;
    if (napi_get_element(env, templates, i, &element) != napi_ok) return env.Undefined();  // a getter threw
    napi_valuetype t;
    if (napi_typeof(env, element, &t) != napi_ok || t != napi_object) {
      ThrowTypeError(env, "The \"" + at + "\" argument must be an object { type, value }");
      return env.Undefined();
    }
    if (napi_get_named_property(env, element, "type", &types[i]) != napi_ok) return env.Undefined();
    if (napi_get_named_property(env, element, "value", &values[i]) != napi_ok) return env.Undefined();
  }

  // Pass 2: plain reads only (no JavaScript runs from here to the call).
  std::vector<CkAttribute> attributes(count);
  for (uint32_t i = 0; i < count; i++) {
    const std::string at = "templates[" + std::to_string(i) + "]";
    napi_valuetype t;
    if (napi_typeof(env, types[i], &t) != napi_ok || t != napi_number) {
      ThrowTypeError(env, "The \"" + at + ".type\" property must be of type number");
      return env.Undefined();
    }
    if (!NumberToUlong(env, types[i], at + ".type", &attributes[i].type)) return env.Undefined();
    const std::string value = at + ".value";
    unsigned char* data = nullptr;
    if (!GetBytes(env, values[i], value.c_str(), "property", &data, &attributes[i].ulValueLen)) return env.Undefined();
    attributes[i].pValue = data;
  }

  std::string why;
  CkFunctionListHead* list = Resolve(path, &why);
  if (list == nullptr) {
    ThrowNotAvailable(env, path, why);
    return env.Undefined();
  }
  const CkRv rv = list->C_GetAttributeValue(session, object, attributes.data(), static_cast<CkUlong>(count));

  Napi::Object result = Napi::Object::New(env);
  result.Set("rv", Napi::Number::New(env, static_cast<double>(rv)));
  Napi::Array lengths = Napi::Array::New(env, count);
  for (uint32_t i = 0; i < count; i++) {
    const CkUlong len = attributes[i].ulValueLen;
    lengths.Set(i, Napi::Number::New(env, len == kUnavailableInformation ? -1.0 : static_cast<double>(len)));
  }
  result.Set("lengths", lengths);
  return result;
}

// pkcs11ModuleIndex(modulePath) -> a number naming the module for
// singlePartInto (resolved once; the path is not looked up again per call).
// Throws ERR_PKCS11_NOT_AVAILABLE when the module is not loaded in this process.
Napi::Value Pkcs11ModuleIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!GetPath(env, info, &path)) return env.Undefined();
  std::string why;
  size_t index = 0;
  if (Resolve(path, &why, &index) == nullptr) {
    ThrowNotAvailable(env, path, why);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(index));
}

// singlePartInto(moduleIndex, operation, session, mechanismType, key, input, output)
//   operation: 0 = C_SignInit + C_Sign, 1 = C_DecryptInit + C_Decrypt.
// The two calls of a single-part operation with a mechanism that takes no
// parameter, the output into the caller's buffer (ulOutLen = its length).
// Returns the output length (>= 0) on CKR_OK, else -(CK_RV) of the call that
// failed (C_Sign/C_Decrypt is not made when the Init fails). pkcs11js makes
// the same two calls through two JavaScript wrappers each and a view of the
// output; on a fast key (ECDSA P-256 on SoftHSM2) that is a share of the time.
Napi::Value SinglePartInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7) {
    ThrowTypeError(env, "singlePartInto(moduleIndex, operation, session, mechanismType, key, input, output) takes 7 arguments");
    return env.Undefined();
  }
  CkUlong index = 0;
  CkUlong operation = 0;
  CkUlong session = 0;
  CkMechanism mechanism{0, nullptr, 0};
  CkUlong key = 0;
  if (!NumberToUlong(env, info[0], "moduleIndex", &index)) return env.Undefined();
  if (!NumberToUlong(env, info[1], "operation", &operation)) return env.Undefined();
  if (operation > 1) {
    ThrowRangeError(env, "The value of \"operation\" is out of range. It must be 0 (sign) or 1 (decrypt)");
    return env.Undefined();
  }
  if (!GetHandle(env, info[2], "session", &session)) return env.Undefined();
  if (!NumberToUlong(env, info[3], "mechanismType", &mechanism.mechanism)) return env.Undefined();
  if (!GetHandle(env, info[4], "key", &key)) return env.Undefined();
  unsigned char* in = nullptr;
  unsigned char* out = nullptr;
  CkUlong inLength = 0;
  CkUlong outCapacity = 0;
  if (!GetBytes(env, info[5], "input", "argument", &in, &inLength)) return env.Undefined();
  if (!GetBytes(env, info[6], "output", "argument", &out, &outCapacity)) return env.Undefined();
  CkFunctionListHead* list = ByIndex(static_cast<size_t>(index));
  if (list == nullptr) {
    ThrowRangeError(env, "no PKCS#11 module has index " + std::to_string(index) + " (use pkcs11ModuleIndex)");
    return env.Undefined();
  }

  const bool sign = operation == 0;
  CkRv rv = (sign ? list->C_SignInit : list->C_DecryptInit)(session, &mechanism, key);
  if (rv != kCkrOk) return Napi::Number::New(env, -static_cast<double>(rv));
  CkUlong outLength = outCapacity;
  rv = (sign ? list->C_Sign : list->C_Decrypt)(session, in, inLength, out, &outLength);
  if (rv != kCkrOk) return Napi::Number::New(env, -static_cast<double>(rv));
  if (outLength > outCapacity) {
    // A module that claims to have written past the buffer: never hand that length on.
    Napi::Error e = Napi::Error::New(env, "the PKCS#11 module reported " + std::to_string(outLength) +
                                              " output bytes for a buffer of " + std::to_string(outCapacity));
    e.Set("code", Napi::String::New(env, "ERR_PKCS11_OUTPUT_LENGTH"));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(outLength));
}

}  // namespace

void RegisterPkcs11Direct(Napi::Env env, Napi::Object exports) {
  exports.Set("probePkcs11Module", Napi::Function::New<ProbePkcs11Module>(env, "probePkcs11Module"));
  exports.Set("getAttributeValueInto", Napi::Function::New<GetAttributeValueInto>(env, "getAttributeValueInto"));
  exports.Set("pkcs11ModuleIndex", Napi::Function::New<Pkcs11ModuleIndex>(env, "pkcs11ModuleIndex"));
  exports.Set("singlePartInto", Napi::Function::New<SinglePartInto>(env, "singlePartInto"));
}

}  // namespace p11ksp
