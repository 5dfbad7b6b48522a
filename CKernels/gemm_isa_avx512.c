/* The AVX-512 instruction sets of the GEMM: the direct kernels (gemm_direct.h) compiled here
 * for AVX-512F with 16-float vectors and masked partial vectors, with either microkernel
 * (gemm_kernel_avx512.c, 12 x 32 tiles: ck_gemm_isa_avx512; gemm_kernel_avx512_8x48.c:
 * ck_gemm_isa_avx512_8x48). The plan uses them only when the CPU has AVX-512F. */
#include "gemm.h"
#include "gemm_direct.h"
#include "scratch.h"
#include "threading.h"

#include <string.h>

#if defined(__x86_64__)
#include "gemm_transpose_avx512.h"
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,fma"))), apply_to = function)
#define CK_DIRECT_LANES 16
#define CK_DIRECT_MASKED 1
#include "gemm_direct_common.h"
#include "gemm_direct_broadcast.h"
#include "gemm_direct_dot.h"
#pragma clang attribute pop

/* The fields both AVX-512 instruction sets share: everything but the microkernel. */
#define AVX512_DIRECT_KERNELS                                                                  \
    .direct_broadcast = direct_broadcast, .direct_row_panels = direct_row_panels,              \
    .direct_dot = direct_dot, .epilogue = epilogue_block, .transpose = transpose

const ck_gemm_isa ck_gemm_isa_avx512 = {
    AVX512_DIRECT_KERNELS,
    .mr = CK_GEMM_AVX512_MR,
    .nr = CK_GEMM_AVX512_NR,
    .kernel = ck_gemm_kernel_avx512,
    .narrow_kernel = ck_gemm_kernel_avx512_narrow,
};

/* The same with the 8 x 48 microkernel: the two-FMA table's blocked product (gemm_plan.c). */
const ck_gemm_isa ck_gemm_isa_avx512_8x48 = {
    AVX512_DIRECT_KERNELS,
    .mr = CK_GEMM_AVX512_8X48_MR,
    .nr = CK_GEMM_AVX512_8X48_NR,
    .kernel = ck_gemm_kernel_avx512_8x48,
    .narrow_kernel = ck_gemm_kernel_avx512_8x48_narrow,
};
#else
/* Not x86-64: no AVX-512 instruction set.
 * The typedef keeps the file from being an empty translation unit, which ISO C forbids. */
typedef int ck_gemm_isa_avx512_unavailable;
#endif
