{
  # p11-ksp native part: locked, non-dumpable, zeroised memory for PINs, and one
  # C_GetAttributeValue with caller-provided buffers on a PKCS#11 module pkcs11js
  # already loaded (native/pkcs11-direct.cc: no PKCS#11 header or -dev package needed).
  # Build: npm run build:native  (= node-gyp rebuild)
  # Output: build/Release/p11ksp_secure_memory.node, loaded by native/index.ts.
  'targets': [
    {
      'target_name': 'p11ksp_secure_memory',
      'sources': [ 'native/secure-memory.cc', 'native/pkcs11-direct.cc' ],
      # node_addon_api (not node_addon_api_except): adds the include dir,
      # -fno-exceptions and NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS (the current
      # name of NAPI_DISABLE_CPP_EXCEPTIONS; napi.h defines the old one from it,
      # so defining both here only produces a redefinition warning).
      'dependencies': [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api",
      ],
      'defines': [ 'NAPI_VERSION=8' ],
      # Node's common.gypi asks for gnu++17; plain ISO C++17 here.
      'cflags_cc!': [ '-std=gnu++17' ],
      'cflags_cc': [ '-std=c++17' ],
      'conditions': [
        ['OS=="linux"', {
          'cflags': [
            '-fstack-protector-strong',
            '-U_FORTIFY_SOURCE',
            '-D_FORTIFY_SOURCE=2',
            '-fvisibility=hidden',
          ],
          'ldflags': [ '-Wl,-z,relro', '-Wl,-z,now', '-Wl,-z,noexecstack' ],
          # dlopen/dlsym (in libc itself from glibc 2.34; a separate libdl before).
          'libraries': [ '-ldl' ],
        }],
        ['OS=="mac"', {
          'xcode_settings': {
            'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
            'CLANG_CXX_LIBRARY': 'libc++',
            'GCC_ENABLE_CPP_EXCEPTIONS': 'NO',
            'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
            'MACOSX_DEPLOYMENT_TARGET': '10.15',
            'OTHER_CFLAGS': [ '-fstack-protector-strong' ],
          },
        }],
      ],
    },
  ],
}
