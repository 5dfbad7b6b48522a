/* The AVX2+FMA instruction set of the GEMM: its microkernel (gemm_kernel_avx2.c) and the
 * direct kernels (gemm_direct.h) compiled here for AVX2 and FMA with 8-float vectors, named
 * in its table ck_gemm_isa_avx2. The plan uses it only when the CPU has both. */
#include "gemm.h"
#include "gemm_direct.h"
#include "scratch.h"
#include "threading.h"

#include <string.h>

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define CK_DIRECT_LANES 8
#include "gemm_direct_common.h"
#include "gemm_direct_broadcast.h"
#include "gemm_direct_dot.h"
#pragma clang attribute pop

const ck_gemm_isa ck_gemm_isa_avx2 = {
    .mr = CK_GEMM_AVX2_MR,
    .nr = CK_GEMM_AVX2_NR,
    .kernel = ck_gemm_kernel_avx2,
    .narrow_kernel = ck_gemm_kernel_avx2_narrow,
    .direct_broadcast = direct_broadcast,
    .direct_row_panels = direct_row_panels,
    .direct_dot = direct_dot,
    .epilogue = epilogue_block,
    .transpose = transpose,
};
#else
/* Not x86-64: no AVX2 instruction set.
 * The typedef keeps the file from being an empty translation unit, which ISO C forbids. */
typedef int ck_gemm_isa_avx2_unavailable;
#endif
