/* Internal: the GEMM's AVX-512 transpose of a block in 16 x 16 pieces held in registers, shared
 * by the direct kernels' transposed copy of B (gemm_direct_common.h, through
 * gemm_isa_avx512.c) and the packing of transposed slivers (gemm_pack.c). x86-64 only; the
 * functions are compiled for AVX-512F whatever the including file's target, and may run only
 * on a CPU that has it. */
#ifndef CK_GEMM_TRANSPOSE_AVX512_H
#define CK_GEMM_TRANSPOSE_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)

/* t[0..16), 16 rows of 16 floats, replaced by its transpose: t[j] lane i = t[i] lane j on
 * entry. Three rounds of shuffles: floats of row pairs interleaved within 128-bit lanes
 * (unpack), then pairs of floats (shuffle), which leaves 4 x 4 blocks transposed in place,
 * each 128-bit lane b of u[g + q] holding column 4b + q of rows g .. g+3 (g a multiple of
 * 4); then those lanes gathered across the registers (two rounds of shuffle_f32x4). */
static inline __attribute__((always_inline)) void ck_transpose_16x16(__m512 t[16]) {
    __m512 u[16];
#pragma clang loop unroll(full)
    for (int g = 0; g < 16; g += 4) {
        const __m512 a = _mm512_unpacklo_ps(t[g], t[g + 1]), b = _mm512_unpackhi_ps(t[g], t[g + 1]),
                     c = _mm512_unpacklo_ps(t[g + 2], t[g + 3]),
                     d = _mm512_unpackhi_ps(t[g + 2], t[g + 3]);
        u[g] = _mm512_shuffle_ps(a, c, 0x44);     /* column 4b of rows g .. g+3 */
        u[g + 1] = _mm512_shuffle_ps(a, c, 0xEE); /* column 4b + 1 */
        u[g + 2] = _mm512_shuffle_ps(b, d, 0x44);
        u[g + 3] = _mm512_shuffle_ps(b, d, 0xEE);
    }
#pragma clang loop unroll(full)
    for (int q = 0; q < 4; q++) {
        /* even: lanes 0 and 2 of u[q], of u[4 + q]; odd: lanes 1 and 3. */
        const __m512 even_lo = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88),
                     odd_lo = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xDD),
                     even_hi = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88),
                     odd_hi = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xDD);
        t[q] = _mm512_shuffle_f32x4(even_lo, even_hi, 0x88);     /* column q: lanes 0 */
        t[4 + q] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0x88);   /* column 4 + q: lanes 1 */
        t[8 + q] = _mm512_shuffle_f32x4(even_lo, even_hi, 0xDD); /* column 8 + q: lanes 2 */
        t[12 + q] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0xDD);  /* column 12 + q: lanes 3 */
    }
}

/* dst[j*ldd + i] = src[i*lds + j] for i < rows, j < cols: a rows x cols block transposed, 16
 * columns by 16 rows at a time (ck_transpose_16x16): 16 rows' pieces of 16 columns loaded (a
 * partial block's under masks, its missing rows as zeros), then each column of the block
 * stored as a piece of a row of dst. One load and one store per 16 floats, not per float; the
 * rows of dst the 16 columns fill are finished before the next 16 are begun. Nothing outside
 * the block is read or written. */
static void ck_transpose_blocks_avx512(int64_t rows, int64_t cols, const float *src,
                                       int64_t lds, float *dst, int64_t ldd) {
    for (int64_t j0 = 0; j0 < cols; j0 += 16) {
        const int width = cols - j0 < 16 ? (int)(cols - j0) : 16;
        const __mmask16 columns = (__mmask16)((1u << width) - 1u);
        for (int64_t i0 = 0; i0 < rows; i0 += 16) {
            const int height = rows - i0 < 16 ? (int)(rows - i0) : 16;
            const __mmask16 lanes = (__mmask16)((1u << height) - 1u);
            __m512 t[16];
#pragma clang loop unroll(full)
            for (int i = 0; i < 16; i++)
                t[i] = i < height ? _mm512_maskz_loadu_ps(columns, src + (i0 + i) * lds + j0)
                                  : _mm512_setzero_ps();
            ck_transpose_16x16(t);
#pragma clang loop unroll(full)
            for (int j = 0; j < 16; j++)
                if (j < width) _mm512_mask_storeu_ps(dst + (j0 + j) * ldd + i0, lanes, t[j]);
        }
    }
}

#pragma clang attribute pop

#endif
