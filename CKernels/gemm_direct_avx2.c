/* The direct GEMM kernels (gemm_direct.h) compiled for AVX2: 8-float vectors. The
 * driver calls them only when the CPU supports the path. */
#include "gemm.h"
#include "gemm_direct.h"
#include "scratch.h"
#include "threading.h"

#include <string.h>

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define CK_DIRECT_LANES 8
#define CK_DIRECT_NAME(f) f##_avx2
#include "gemm_direct_impl.h"
#pragma clang attribute pop
#else
/* Not x86-64: no AVX2 path. */
typedef int ck_gemm_direct_avx2_unavailable;
#endif
