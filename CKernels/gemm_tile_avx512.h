/* Internal: the pieces of a tile both AVX-512 microkernels share (gemm_kernel_avx512.c,
 * gemm_kernel_avx512_8x48.c): a step in C, the mask of a narrow tile's last vector, and the
 * store of the sums into C. Included only by files compiled for x86-64; the functions are
 * compiled for AVX-512 by their target attribute. A tile's accumulators are acc[i][h], row i,
 * columns 16h..16h+15; R rows, V vectors and acc_vectors (the kernel's vectors per row) are
 * constants after inlining, so acc stays in registers. */
#ifndef CK_GEMM_TILE_AVX512_H
#define CK_GEMM_TILE_AVX512_H

#include <immintrin.h>
#include <stdint.h>

/* Step p of a tile: the first V (<= 3) vectors of 16 floats of row p of the B sliver (at b_row)
 * times column p of the A sliver (at a: the first R of its floats, each broadcast), one FMA
 * per accumulator: acc = a * b + acc. */
static inline __attribute__((target("avx512f,fma"), always_inline)) void
ck_gemm_tile_step_avx512(const int R, const int V, const int acc_vectors,
                         __m512 acc[][acc_vectors], const float *a, const float *b_row) {
    __m512 bv[3];
    for (int h = 0; h < V; h++) bv[h] = _mm512_loadu_ps(b_row + 16 * h);
    for (int i = 0; i < R; i++) {
        const __m512 ai = _mm512_set1_ps(a[i]);
        for (int h = 0; h < V; h++) acc[i][h] = _mm512_fmadd_ps(ai, bv[h], acc[i][h]);
    }
}

/* The columns of the last vector of a narrow tile's first `cols` columns (cols >= 1). */
static inline __mmask16 ck_gemm_last_vector_mask(int cols) {
    return (__mmask16)(0xFFFFu >> (15 - (cols - 1) % 16));
}

/* The first R rows and V vectors of 16 columns of a tile's sums into row-major C at c:
 * c = alpha * acc (beta == 0: c is not read), or fma(beta, c, alpha * acc); of the last
 * vector only the columns in `last` are read and written. With alpha 1 (every layer's
 * product) acc is taken as it is: the bits of 1 * acc, without its multiply, one per
 * accumulator against the kc multiply-adds of each, which counts in a shallow k block. */
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
