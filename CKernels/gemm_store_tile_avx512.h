/* Internal: how both AVX-512 microkernels (gemm_kernel_avx512.c, gemm_kernel_avx512_8x48.c)
 * store a tile's sums into C. Included only by files compiled for x86-64; the function is
 * compiled for AVX-512 by its target attribute. */
#ifndef CK_GEMM_STORE_TILE_AVX512_H
#define CK_GEMM_STORE_TILE_AVX512_H

#include <immintrin.h>
#include <stdint.h>

/* The first R rows and V vectors of 16 columns of a tile of sums, row i's vector h at
 * acc[i][h], into row-major C at c: c = alpha * acc (beta == 0: c is not
 * read), or fma(beta, c, alpha * acc); of the last vector only the columns in `last` are read
 * and written. With alpha 1 (every layer's product) acc is taken as it is: the bits of
 * 1 * acc, without its multiply, which in a shallow k block is a few percent of the tile's
 * arithmetic. R, V and acc_vectors are constants after inlining, so acc stays in registers. */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
ck_gemm_store_tile_avx512(const int R, const int V, const int acc_vectors,
                          __m512 acc[][acc_vectors], __mmask16 last, float *c, int64_t ldc,
                          float alpha, float beta) {
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (alpha != 1.0f)
        for (int i = 0; i < R; i++)
            for (int h = 0; h < V; h++)
                acc[i][h] = _mm512_mul_ps(va, acc[i][h]);
    for (int i = 0; i < R; i++)
        for (int h = 0; h < V; h++) {
            float *ci = c + i * ldc + 16 * h;
            const __mmask16 columns = h == V - 1 ? last : 0xFFFF;
            const __m512 scaled = acc[i][h];
            const __m512 result =
                beta == 0.0f ? scaled
                             : _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(columns, ci), scaled);
            _mm512_mask_storeu_ps(ci, columns, result);
        }
}

#endif
