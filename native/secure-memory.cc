// p11-ksp secure memory: page-aligned, mlock'ed, non-dumpable, zeroised
// memory for the PIN cache (the RtlEncryptMemory / RtlSecureZeroMemory role).
//
// Built with node-addon-api, Node-API version 8, C++ exceptions disabled:
// every failure is turned into a pending JavaScript exception and the method
// returns at once. Nothing in here unwinds, so the wipe/unlock/unmap path in
// Release() always runs to the end.
//
// Layout of one SecureBuffer mapping (all PROT_NONE guard pages are there to
// turn an overrun by a future bug into a SIGSEGV instead of a silent read of
// a neighbouring secret):
//
//   base_                data_                          data_ + data_len_
//   | guard (PROT_NONE) | data pages (RW, locked, dd, wf) | guard (PROT_NONE) |
//
// The process-wide state (RLIMIT_CORE, PR_SET_DUMPABLE) is deliberately left
// alone: this addon only marks its own pages.

#if defined(__APPLE__)
#define __STDC_WANT_LIB_EXT1__ 1  // memset_s
#endif

#include <napi.h>

#include "pkcs11-direct.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#if defined(_WIN32)
#error "p11ksp_secure_memory supports POSIX systems only (Linux, macOS, BSD)"
#endif

namespace {

// Largest single allocation. The PIN cache needs a few pages; the cap keeps a
// typo from locking gigabytes of RAM.
constexpr size_t kMaxSize = size_t{64} * 1024 * 1024;

// Zeroise memory in a way the compiler may not elide.
void SecureZero(void* p, size_t n) {
  if (p == nullptr || n == 0) return;
#if defined(__APPLE__)
  memset_s(p, n, 0, n);
#elif defined(__linux__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
    defined(__NetBSD__) || defined(__DragonFly__)
  explicit_bzero(p, n);
#else
  volatile unsigned char* v = static_cast<volatile unsigned char*>(p);
  while (n--) *v++ = 0;
  __asm__ __volatile__("" : : "r"(p) : "memory");
#endif
}

size_t PageSize() {
  static const size_t page = [] {
    long v = sysconf(_SC_PAGESIZE);
    return v > 0 ? static_cast<size_t>(v) : size_t{4096};
  }();
  return page;
}

// ---- errors ---------------------------------------------------------------

template <typename E>
void ThrowWithCode(Napi::Env env, const char* code, const std::string& msg) {
  E err = E::New(env, msg);
  err.Set("code", Napi::String::New(env, code));
  err.ThrowAsJavaScriptException();
}

void ThrowTypeError(Napi::Env env, const std::string& msg) {
  ThrowWithCode<Napi::TypeError>(env, "ERR_INVALID_ARG_TYPE", msg);
}

void ThrowRangeError(Napi::Env env, const std::string& msg) {
  ThrowWithCode<Napi::RangeError>(env, "ERR_OUT_OF_RANGE", msg);
}

void ThrowErrno(Napi::Env env, const char* what, int err) {
  std::string msg = std::string(what) + " failed: " + strerror(err);
  ThrowWithCode<Napi::Error>(env, "ERR_SECURE_MEMORY", msg);
}

// Reads a non-negative integer argument no larger than `max`.
bool GetIndex(const Napi::CallbackInfo& info, size_t i, const char* name,
              size_t max, size_t* out) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) {
    ThrowTypeError(env, std::string("The \"") + name +
                            "\" argument must be of type number");
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 0 || d != std::floor(d) ||
      d > static_cast<double>(max)) {
    ThrowRangeError(env, std::string("The value of \"") + name +
                             "\" is out of range. It must be an integer >= 0 "
                             "and <= " + std::to_string(max));
    return false;
  }
  *out = static_cast<size_t>(d);
  return true;
}

size_t TypedArrayElementSize(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 0;
  }
}

// Resolves a JS byte container to (pointer, length). With `uint8_only`, only
// Uint8Array (and so Buffer) is accepted; otherwise any TypedArray, DataView
// or ArrayBuffer. Uses the C API so SharedArrayBuffer-backed views work too.
bool GetBytes(Napi::Env env, napi_value v, bool uint8_only, const char* name,
              uint8_t** data, size_t* len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length = 0;
    void* ptr = nullptr;
    if (napi_get_typedarray_info(env, v, &type, &length, &ptr, nullptr,
                                 nullptr) != napi_ok) {
      ThrowTypeError(env, std::string("cannot read \"") + name + "\"");
      return false;
    }
    if (uint8_only && type != napi_uint8_array) {
      ThrowTypeError(env, std::string("The \"") + name +
                              "\" argument must be a Uint8Array or Buffer");
      return false;
    }
    *data = static_cast<uint8_t*>(ptr);
    *len = length * TypedArrayElementSize(type);
    return true;
  }
  if (!uint8_only) {
    if (napi_is_dataview(env, v, &is) == napi_ok && is) {
      size_t length = 0;
      void* ptr = nullptr;
      if (napi_get_dataview_info(env, v, &length, &ptr, nullptr, nullptr) !=
          napi_ok) {
        ThrowTypeError(env, std::string("cannot read \"") + name + "\"");
        return false;
      }
      *data = static_cast<uint8_t*>(ptr);
      *len = length;
      return true;
    }
    if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
      size_t length = 0;
      void* ptr = nullptr;
      if (napi_get_arraybuffer_info(env, v, &ptr, &length) != napi_ok) {
        ThrowTypeError(env, std::string("cannot read \"") + name + "\"");
        return false;
      }
      *data = static_cast<uint8_t*>(ptr);
      *len = length;
      return true;
    }
  }
  ThrowTypeError(env, std::string("The \"") + name + "\" argument must be " +
                          (uint8_only ? "a Uint8Array or Buffer"
                                      : "an ArrayBufferView or ArrayBuffer"));
  return false;
}

// ---- SecureBuffer ------------------------------------------------------------

class SecureBuffer : public Napi::ObjectWrap<SecureBuffer> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "SecureBuffer",
        {
            InstanceMethod<&SecureBuffer::Write>("write"),
            InstanceMethod<&SecureBuffer::Read>("read"),
            InstanceMethod<&SecureBuffer::Wipe>("wipe"),
            InstanceMethod<&SecureBuffer::Free>("free"),
            InstanceAccessor<&SecureBuffer::GetSize>("size"),
            InstanceAccessor<&SecureBuffer::GetLocked>("locked"),
            InstanceAccessor<&SecureBuffer::GetDumpExcluded>("dumpExcluded"),
            InstanceAccessor<&SecureBuffer::GetWipeOnFork>("wipeOnFork"),
            InstanceAccessor<&SecureBuffer::GetFreed>("freed"),
            InstanceAccessor<&SecureBuffer::GetAddress>("address"),
        });
  }

  explicit SecureBuffer(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<SecureBuffer>(info) {
    Napi::Env env = info.Env();
    size_t size = 0;
    if (!GetIndex(info, 0, "size", kMaxSize, &size)) return;
    if (size == 0) {
      ThrowRangeError(env, "The value of \"size\" is out of range. It must be "
                           "an integer >= 1 and <= " + std::to_string(kMaxSize));
      return;
    }

    const size_t page = PageSize();
    const size_t data_len = (size + page - 1) / page * page;
    const size_t total_len = data_len + 2 * page;

    void* base = mmap(nullptr, total_len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
      ThrowErrno(env, "mmap", errno);
      return;
    }
    uint8_t* data = static_cast<uint8_t*>(base) + page;

    // Guard pages on both sides.
    if (mprotect(base, page, PROT_NONE) != 0 ||
        mprotect(data + data_len, page, PROT_NONE) != 0) {
      int err = errno;
      munmap(base, total_len);
      ThrowErrno(env, "mprotect", err);
      return;
    }

    // Keep the pages out of core dumps. Where the platform has the advice it
    // must succeed: a secret that could land in a core file is an error.
#if defined(MADV_DONTDUMP)
    if (madvise(base, total_len, MADV_DONTDUMP) != 0) {
      int err = errno;
      munmap(base, total_len);
      ThrowErrno(env, "madvise(MADV_DONTDUMP)", err);
      return;
    }
    dump_excluded_ = true;
#elif defined(MADV_NOCORE)
    if (madvise(base, total_len, MADV_NOCORE) != 0) {
      int err = errno;
      munmap(base, total_len);
      ThrowErrno(env, "madvise(MADV_NOCORE)", err);
      return;
    }
    dump_excluded_ = true;
#endif

    // A forked child sees zeros instead of the parent's secrets (Linux 4.14+;
    // older kernels answer EINVAL and we only report it).
#if defined(MADV_WIPEONFORK)
    wipe_on_fork_ = madvise(data, data_len, MADV_WIPEONFORK) == 0;
#endif

    // Lock in RAM. Failure (RLIMIT_MEMLOCK without CAP_IPC_LOCK: EPERM,
    // ENOMEM or EAGAIN) is not fatal: the memory still works, is still
    // non-dumpable and still wiped, and `locked` says false.
    locked_ = mlock(data, data_len) == 0;

    base_ = base;
    total_len_ = total_len;
    data_ = data;
    data_len_ = data_len;
    size_ = size;
    snprintf(address_, sizeof address_, "0x%" PRIxPTR,
             reinterpret_cast<uintptr_t>(data));
  }

  // Finalizer path: the JS object was collected without free().
  ~SecureBuffer() override { Release(); }

  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;

 private:
  bool CheckLive(Napi::Env env) {
    if (base_ != nullptr) return true;
    ThrowWithCode<Napi::Error>(env, "ERR_SECURE_BUFFER_FREED",
                               "SecureBuffer has been freed");
    return false;
  }

  // write(offset, Uint8Array): copies the bytes in.
  void Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckLive(env)) return;
    size_t offset = 0;
    if (!GetIndex(info, 0, "offset", size_, &offset)) return;
    if (info.Length() < 2) {
      ThrowTypeError(env, "The \"data\" argument must be a Uint8Array or Buffer");
      return;
    }
    uint8_t* src = nullptr;
    size_t len = 0;
    if (!GetBytes(env, info[1], true, "data", &src, &len)) return;
    if (len > size_ - offset) {
      ThrowRangeError(env, "write of " + std::to_string(len) +
                               " bytes at offset " + std::to_string(offset) +
                               " exceeds the buffer size " +
                               std::to_string(size_));
      return;
    }
    if (len != 0) memcpy(data_ + offset, src, len);
  }

  // read(offset, length) -> a new Buffer holding a copy. The caller owns the
  // copy and must wipe it.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckLive(env)) return env.Undefined();
    size_t offset = 0;
    size_t length = 0;
    if (!GetIndex(info, 0, "offset", size_, &offset)) return env.Undefined();
    if (!GetIndex(info, 1, "length", size_, &length)) return env.Undefined();
    if (length > size_ - offset) {
      ThrowRangeError(env, "read of " + std::to_string(length) +
                               " bytes at offset " + std::to_string(offset) +
                               " exceeds the buffer size " +
                               std::to_string(size_));
      return env.Undefined();
    }
    return Napi::Buffer<uint8_t>::Copy(env, data_ + offset, length);
  }

  void Wipe(const Napi::CallbackInfo& info) {
    if (!CheckLive(info.Env())) return;
    SecureZero(data_, data_len_);
  }

  // free(): wipe, unlock, unmap. Idempotent.
  void Free(const Napi::CallbackInfo&) { Release(); }

  Napi::Value GetSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(size_));
  }
  Napi::Value GetLocked(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), locked_);
  }
  Napi::Value GetDumpExcluded(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), base_ != nullptr && dump_excluded_);
  }
  Napi::Value GetWipeOnFork(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), base_ != nullptr && wipe_on_fork_);
  }
  Napi::Value GetFreed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), base_ == nullptr);
  }
  Napi::Value GetAddress(const Napi::CallbackInfo& info) {
    if (base_ == nullptr) return info.Env().Null();
    return Napi::String::New(info.Env(), address_);
  }

  void Release() {
    if (base_ == nullptr) return;
    SecureZero(data_, data_len_);  // wipe while still locked
    if (locked_) munlock(data_, data_len_);
    munmap(base_, total_len_);
    base_ = nullptr;
    data_ = nullptr;
    total_len_ = 0;
    data_len_ = 0;
    locked_ = false;
  }

  void* base_ = nullptr;
  size_t total_len_ = 0;
  uint8_t* data_ = nullptr;
  size_t data_len_ = 0;  // page-rounded, what is locked and wiped
  size_t size_ = 0;      // what the caller asked for, the addressable range
  bool locked_ = false;
  bool dump_excluded_ = false;
  bool wipe_on_fork_ = false;
  char address_[2 + 2 * sizeof(uintptr_t) + 1] = {0};
};

// wipeBuffer(view): explicit_bzero over exactly the bytes the view covers.
void WipeBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) {
    ThrowTypeError(env, "The \"buffer\" argument must be an ArrayBufferView or ArrayBuffer");
    return;
  }
  uint8_t* data = nullptr;
  size_t len = 0;
  if (!GetBytes(env, info[0], false, "buffer", &data, &len)) return;
  SecureZero(data, len);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("SecureBuffer", SecureBuffer::Init(env));
  exports.Set("wipeBuffer", Napi::Function::New<WipeBuffer>(env, "wipeBuffer"));
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(PageSize())));
  exports.Set("maxSize", Napi::Number::New(env, static_cast<double>(kMaxSize)));
  p11ksp::RegisterPkcs11Direct(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(p11ksp_secure_memory, Init)
