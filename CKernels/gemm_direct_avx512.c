/* The direct GEMM kernels (gemm_direct.h) compiled for AVX512: 16-float vectors. The
 * driver calls them only when the CPU supports the path. */
#include "gemm.h"
#include "gemm_direct.h"
#include "scratch.h"
#include "threading.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,fma"))), apply_to = function)
#define CK_DIRECT_LANES 16
#define CK_DIRECT_MASKED 1
#define CK_DIRECT_NAME(f) f##_avx512
#include "gemm_direct_impl.h"
#pragma clang attribute pop
#else
/* Not x86-64: no AVX512 path. */
typedef int ck_gemm_direct_avx512_unavailable;
#endif
