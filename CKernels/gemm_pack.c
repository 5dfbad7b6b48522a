/* The packing of the GEMM's packed routes: gemm_pack.h. */
#include "gemm_pack.h"
#include "gemm_plan.h"

/* Packing moves data in vectors, inline: a memcpy call per 128-byte row of a sliver, or one
 * scalar store per float, cost more than the copying itself for the panels of a small
 * product. The packing functions are compiled per instruction set (CK_VECTORIZED); f4 is SSE2 on
 * plain x86-64, NEON on aarch64. The AVX-512 12 x 32 kernel's whole A slivers are transposed
 * with AVX-512 permutes (transpose_sliver_12). */
typedef float f4 __attribute__((vector_size(4 * sizeof(float))));
static inline f4 load4(const float *p) {
    f4 v;
    __builtin_memcpy_inline(&v, p, sizeof v);
    return v;
}
static inline void store4(float *p, f4 v) { __builtin_memcpy_inline(p, &v, sizeof v); }
typedef float f2 __attribute__((vector_size(2 * sizeof(float))));
static inline void store2(float *p, f2 v) { __builtin_memcpy_inline(p, &v, sizeof v); }

/* dst[0 .. n) = src[0 .. n): 64 bytes at a time (one zmm in the AVX-512 clone of a packing
 * function), then 4 floats, then one. */
static inline void copy_floats(float *dst, const float *src, int64_t n) {
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) __builtin_memcpy_inline(dst + j, src + j, 16 * sizeof(float));
    for (; j + 4 <= n; j += 4) store4(dst + j, load4(src + j));
    for (; j < n; j++) dst[j] = src[j];
}

/* dst[p*stride .. + width) = m[(p0 + p)*ld + col0 .. + width) for p < kc: one sliver of a
 * matrix read as stored, a piece of each of kc rows. The pieces are ld floats apart: for long
 * rows (4 KB at 1024 floats) each is on another page, where the hardware prefetcher does not
 * follow, and would wait for memory. So the piece `ahead` rows further (the table's
 * prefetch_rows) is asked for first (ahead 0: none). */
static inline __attribute__((always_inline)) void
copy_strip_rows(float *dst, int64_t stride, const float *m, int64_t ld, int64_t p0, int64_t kc,
                int64_t col0, int64_t width, int64_t ahead) {
    for (int64_t p = 0; p < kc; p++) {
        if (ahead > 0 && p + ahead < kc)
            ck_gemm_prefetch_floats(m + (p0 + p + ahead) * ld + col0, width);
        copy_floats(dst + p * stride, m + (p0 + p) * ld + col0, width);
    }
}

/* copy_strip_rows, with the width of a whole sliver (width == stride: a tile's mr or nr, 6, 8
 * or 12 rows, 8, 16, 32 or 48 columns; gemm.h) a constant: each piece is then copied by a few
 * vector moves, not a loop, whose overhead would be most of the packing's cost in a shallow
 * k block (a small batch's dW = Xᵀ·dY). */
static inline void copy_strip(float *dst, int64_t stride, const float *m, int64_t ld, int64_t p0,
                              int64_t kc, int64_t col0, int64_t width, int64_t ahead) {
#define WHOLE(W)                                                                               \
    case W: copy_strip_rows(dst, W, m, ld, p0, kc, col0, W, ahead); return;
    if (width == stride)
        switch (width) { WHOLE(6) WHOLE(8) WHOLE(12) WHOLE(16) WHOLE(32) WHOLE(48) }
#undef WHOLE
    copy_strip_rows(dst, stride, m, ld, p0, kc, col0, width, ahead);
}

/* dst[p*ldd + q] = s[q*lds + p] for q < 4, p0 <= p < p1: four rows of a block transposed, in
 * 4 x 4 blocks held in registers (columns past the last whole block one by one). */
static inline void transpose_4_rows(const float *s, int64_t lds, int64_t p0, int64_t p1,
                                    float *dst, int64_t ldd) {
    int64_t p = p0;
    for (; p + 4 <= p1; p += 4) {
        /* r_q holds row q, columns p..p+3; the stores are columns p..p+3, rows 0..3. */
        const f4 r0 = load4(s + p), r1 = load4(s + lds + p), r2 = load4(s + 2 * lds + p),
                 r3 = load4(s + 3 * lds + p);
        const f4 lo01 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5),
                 hi01 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7),
                 lo23 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5),
                 hi23 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);
        float *d = dst + p * ldd;
        store4(d, __builtin_shufflevector(lo01, lo23, 0, 1, 4, 5));
        store4(d + ldd, __builtin_shufflevector(lo01, lo23, 2, 3, 6, 7));
        store4(d + 2 * ldd, __builtin_shufflevector(hi01, hi23, 0, 1, 4, 5));
        store4(d + 3 * ldd, __builtin_shufflevector(hi01, hi23, 2, 3, 6, 7));
    }
    for (; p < p1; p++)
        for (int64_t q = 0; q < 4; q++) dst[p * ldd + q] = s[q * lds + p];
}

/* The same for two rows: each 4 columns of the pair interleaved in two registers, stored two
 * floats a column (the AVX2 kernel's 6-row A slivers end in such a pair). */
static inline void transpose_2_rows(const float *s, int64_t lds, int64_t p0, int64_t p1,
                                    float *dst, int64_t ldd) {
    int64_t p = p0;
    for (; p + 4 <= p1; p += 4) {
        const f4 r0 = load4(s + p), r1 = load4(s + lds + p);
        const f4 lo = __builtin_shufflevector(r0, r1, 0, 4, 1, 5),
                 hi = __builtin_shufflevector(r0, r1, 2, 6, 3, 7);
        float *d = dst + p * ldd;
        store2(d, __builtin_shufflevector(lo, lo, 0, 1));
        store2(d + ldd, __builtin_shufflevector(lo, lo, 2, 3));
        store2(d + 2 * ldd, __builtin_shufflevector(hi, hi, 0, 1));
        store2(d + 3 * ldd, __builtin_shufflevector(hi, hi, 2, 3));
    }
    for (; p < p1; p++) {
        dst[p * ldd] = s[p];
        dst[p * ldd + 1] = s[lds + p];
    }
}

/* dst[p*ldd + i] = src[i*lds + p] for i < rows, p < cols: a rows x cols block transposed,
 * four rows at a time, then a pair, then a last row, every group through a chunk of the
 * columns. The block is a sliver: an A sliver's rows, or a transposed B sliver's columns, by
 * the k block's terms. A dst of more than t->pack_transpose_max_floats floats (such as a
 * partial A sliver of 9 to 11 rows of the 12 x 32 kernel in a k block of 1024, past 32 KB) is
 * filled t->pack_transpose_columns columns at a time, so that the chunk's part of it stays in
 * L1 while all its rows fill it, rather than having its lines, 16 bytes written per 4 rows,
 * fetched again for every 4 rows. A smaller dst (such as an A sliver of 6 rows by the AVX2
 * table's kc of 256, or the 8 x 48 kernel's 8 rows by the AVX-512 tables' 1024) is filled in
 * one chunk: each group of source rows is then read straight through. (Two kinds of sliver go
 * elsewhere: a whole 12-row A sliver to transpose_sliver_12, and every transposed B sliver of
 * the AVX-512 kernels, whose nr is 32 or 48, whole or partial, to
 * ck_transpose_blocks_avx512.) */
static void transpose_block(const ck_gemm_table *t, int64_t rows, int64_t cols, const float *src,
                            int64_t lds, float *dst, int64_t ldd) {
    const int64_t chunk =
        rows * cols > t->pack_transpose_max_floats ? t->pack_transpose_columns : cols;
    for (int64_t p0 = 0; p0 < cols; p0 += chunk) {
        const int64_t p1 = ck_gemm_min64(cols, p0 + chunk);
        int64_t i = 0;
        for (; i + 4 <= rows; i += 4) transpose_4_rows(src + i * lds, lds, p0, p1, dst + i, ldd);
        if (i + 2 <= rows) {
            transpose_2_rows(src + i * lds, lds, p0, p1, dst + i, ldd);
            i += 2;
        }
        if (i < rows)
            for (int64_t p = p0; p < p1; p++) dst[p * ldd + i] = src[i * lds + p];
    }
}

#if defined(__x86_64__)
#include "gemm_transpose_avx512.h"

/* Only the AVX-512 12 x 32 kernel's slivers have 12 rows, and the plan runs it only on CPUs
 * with AVX-512F: ck_gemm_pack_a takes transpose_sliver_12 for them. */
_Static_assert(CK_GEMM_AVX2_MR != 12 && CK_GEMM_PORTABLE_MR != 12 &&
                   CK_GEMM_AVX512_8X48_MR != 12,
               "12-row slivers are the AVX-512 12 x 32 kernel's alone");

/* Likewise only the AVX-512 kernels' B slivers are 32 or 48 columns wide: ck_gemm_pack_b
 * transposes those with AVX-512 (ck_transpose_blocks_avx512), in 16 x 16 blocks. */
_Static_assert(CK_GEMM_AVX2_NR != CK_GEMM_AVX512_NR && CK_GEMM_AVX2_NR != CK_GEMM_AVX512_8X48_NR &&
                   CK_GEMM_PORTABLE_NR != CK_GEMM_AVX512_NR &&
                   CK_GEMM_PORTABLE_NR != CK_GEMM_AVX512_8X48_NR,
               "B slivers of 32 or 48 columns are the AVX-512 kernels' alone");
static inline int avx512_b_sliver(int nr) {
    return nr == CK_GEMM_AVX512_NR || nr == CK_GEMM_AVX512_8X48_NR;
}

/* dst[p*12 + i] = src[i*lds + p] for i < 12, p < kc: a whole A sliver of the 12 x 32 kernel
 * transposed, 4 columns at a time. The 12 rows' 4 floats go into three zmm registers, rows
 * 0-3, 4-7 and 8-11, a row to a 128-bit lane; the 48 floats of dst that the 4 columns fill
 * are then three vectors, each gathered from all three registers by two two-source permutes
 * (from the first two registers, then the third), and stored whole. Columns past the last
 * multiple of 4 one by one. */
__attribute__((target("avx512f"))) static void
transpose_sliver_12(int64_t kc, const float *src, int64_t lds, float *dst) {
    /* Element (row r, column c) of the 4 columns is lane 4 * (r % 4) + c of register r / 4;
     * a permute takes lane x of its first source and lane 16 + x of its second. The "first"
     * index vectors combine rows 0-7 (registers 0 and 1) and leave the places of rows 8-11
     * (register 2) to the "second", which keeps what the first placed (lanes 0-15 of its
     * first source). Output vector v holds dst floats 16v .. 16v+15: float f is column f / 12,
     * row f % 12. */
    const __m512i first[3] = {
        _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 1, 5, 9, 13),
        _mm512_setr_epi32(17, 21, 25, 29, 0, 0, 0, 0, 2, 6, 10, 14, 18, 22, 26, 30),
        _mm512_setr_epi32(0, 0, 0, 0, 3, 7, 11, 15, 19, 23, 27, 31, 0, 0, 0, 0),
    };
    const __m512i second[3] = {
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 20, 24, 28, 12, 13, 14, 15),
        _mm512_setr_epi32(0, 1, 2, 3, 17, 21, 25, 29, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_setr_epi32(18, 22, 26, 30, 4, 5, 6, 7, 8, 9, 10, 11, 19, 23, 27, 31),
    };
    int64_t p = 0;
    for (; p + 4 <= kc; p += 4) {
        __m512 rows[3];
        for (int g = 0; g < 3; g++) {
            const float *s = src + 4 * g * lds + p;
            __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(s));
            v = _mm512_insertf32x4(v, _mm_loadu_ps(s + lds), 1);
            v = _mm512_insertf32x4(v, _mm_loadu_ps(s + 2 * lds), 2);
            rows[g] = _mm512_insertf32x4(v, _mm_loadu_ps(s + 3 * lds), 3);
        }
        for (int v = 0; v < 3; v++)
            _mm512_storeu_ps(dst + p * 12 + 16 * v,
                             _mm512_permutex2var_ps(
                                 _mm512_permutex2var_ps(rows[0], first[v], rows[1]),
                                 second[v], rows[2]));
    }
    for (; p < kc; p++)
        for (int i = 0; i < 12; i++) dst[p * 12 + i] = src[i * lds + p];
}
#endif

/* gemm_pack.h */
CK_VECTORIZED void ck_gemm_pack_a(const ck_gemm_table *t, int trans, const float *a,
                                  int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc,
                                  int mr, float *dst) {
    for (int64_t s = 0; s * mr < mc; s++, dst += (int64_t)mr * kc) {
        int64_t rows = ck_gemm_min64(mr, mc - s * mr);
        int64_t row0 = i0 + s * mr;
        if (trans) {
            /* Column p of op(A) is row p of A: rows contiguous values per p. */
            copy_strip(dst, mr, a, lda, p0, kc, row0, rows, t->prefetch_rows);
        } else {
            /* Row i of op(A) is row i of A: the sliver is its transpose. Its rows' pieces
             * are short (kc floats) and far apart, too short for the hardware prefetcher to
             * follow before the next sliver's: those are asked for first. */
            const int64_t next_rows = ck_gemm_min64(mr, mc - (s + 1) * mr);
            for (int64_t i = 0; t->ask_next_a_sliver && i < next_rows; i++)
                ck_gemm_prefetch_floats(a + (row0 + mr + i) * lda + p0, kc);
#if defined(__x86_64__)
            if (rows == 12 && mr == 12) {
                transpose_sliver_12(kc, a + row0 * lda + p0, lda, dst);
                continue;
            }
#endif
            transpose_block(t, rows, kc, a + row0 * lda + p0, lda, dst, mr);
        }
    }
}

/* gemm_pack.h */
CK_VECTORIZED void ck_gemm_pack_b(const ck_gemm_table *t, int trans, const float *b,
                                  int64_t ldb, int64_t p0, int64_t j0, int64_t nc, int64_t kc,
                                  int nr, int64_t s_begin, int64_t s_end, int64_t row_block,
                                  float *dst) {
    if (!trans && row_block > 0) {
        /* Row p of op(B) is row p of B: row_block rows at a time, each read along its
         * columns of all the slivers, as row_block streams the hardware prefetcher follows
         * (no asks). */
        for (int64_t p = 0; p < kc; p += row_block) {
            const int64_t rows = ck_gemm_min64(row_block, kc - p);
            for (int64_t s = s_begin; s < s_end; s++)
                copy_strip(dst + s * nr * kc + p * nr, nr, b, ldb, p0 + p, rows, j0 + s * nr,
                           ck_gemm_min64(nr, nc - s * nr), 0);
        }
    } else {
        for (int64_t s = s_begin; s < s_end; s++) {
            float *d = dst + s * nr * kc;
            const int64_t cols = ck_gemm_min64(nr, nc - s * nr), col0 = j0 + s * nr;
            if (trans) {
                /* Column j of op(B) is row j of B: the sliver is its transpose. */
#if defined(__x86_64__)
                if (avx512_b_sliver(nr)) {
                    ck_transpose_blocks_avx512(cols, kc, b + col0 * ldb + p0, ldb, d, nr);
                    continue;
                }
#endif
                transpose_block(t, cols, kc, b + col0 * ldb + p0, ldb, d, nr);
            } else {
                /* Row p of op(B) is row p of B: cols contiguous values per p. */
                copy_strip(d, nr, b, ldb, p0, kc, col0, cols, t->prefetch_rows);
            }
        }
    }
    /* Only the block's last sliver may be partial: its columns past nc are zeros. */
    const int64_t last = s_end - 1, cols = nc - last * nr;
    for (int64_t p = 0; s_end > s_begin && cols < nr && p < kc; p++)
        for (int64_t j = cols; j < nr; j++) dst[last * nr * kc + p * nr + j] = 0.0f;
}
