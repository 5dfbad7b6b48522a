/* Internal: a strided block transposed, dst[j * ldd + i] = src[i * lds + j] for i < rows,
 * j < cols: on a CPU with AVX-512 in 16 x 16 pieces held in registers (the GEMM's
 * ck_transpose_blocks_avx512), elsewhere, and in a build forced to one instruction set
 * (CK_FORCE_ISA, threading.h), a float per load and store. An exact copy: the same bits on
 * every path. */
#ifndef CK_TRANSPOSE_BLOCK_H
#define CK_TRANSPOSE_BLOCK_H

#include <stdint.h>

#if defined(__x86_64__) && !defined(CK_FORCE_ISA)
#include "gemm_transpose_avx512.h"
#endif

static inline void ck_transpose_block(int64_t rows, int64_t cols, const float *src, int64_t lds,
                                      float *dst, int64_t ldd) {
#if defined(__x86_64__) && !defined(CK_FORCE_ISA)
    if (__builtin_cpu_supports("avx512f")) {
        ck_transpose_blocks_avx512(rows, cols, src, lds, dst, ldd);
        return;
    }
#endif
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) dst[j * ldd + i] = src[i * lds + j];
}

#endif
