/* Internal: the packing of the GEMM's packed routes (gemm_packed.c), in gemm_pack.c. A~ is
 * op(A) cut into slivers of mr rows, B~ op(B) cut into slivers of nr columns, each sliver laid
 * out as the microkernel reads it (gemm.h). Packing reads op(A) and op(B) in place,
 * transposed or not; no matrix is copied whole. */
#ifndef CK_GEMM_PACK_H
#define CK_GEMM_PACK_H

#include "gemm_plan.h"

#include <stdint.h>

/* Asks for the cache lines of src[0 .. n), n >= 1, ahead of their use. */
static inline void ck_gemm_prefetch_floats(const float *src, int64_t n) {
    for (int64_t j = 0; j < n; j += 16) __builtin_prefetch(src + j, 0, 3);
    __builtin_prefetch(src + n - 1, 0, 3);
}

/* Packs op(A)[i0 .. i0+mc, p0 .. p0+kc) into ceil(mc / mr) slivers of mr rows. Sliver s
 * starts at dst + s*mr*kc and holds element (s*mr + i, p) at [p*mr + i]: the mr values of
 * one column of the sliver are contiguous. The last sliver's rows past mc are left as they
 * are: the microkernel computes only a tile's valid rows and never reads them.
 * op(A)(i, p) is a[i*lda + p], or a[p*lda + i] when trans. From table t: prefetch_rows, how
 * many rows ahead to ask for when rows of A are read as stored; ask_next_a_sliver: when A is
 * not transposed, so that each sliver is transposed from mr rows lda apart, whether the next
 * sliver's rows are asked for before each sliver is transposed; and the transposes'
 * pack_transpose_max_floats and pack_transpose_columns (gemm_plan.h). */
void ck_gemm_pack_a(const ck_gemm_table *t, int trans, const float *a, int64_t lda, int64_t i0,
                    int64_t p0, int64_t mc, int64_t kc, int mr, float *dst);

/* Packs slivers [s_begin, s_end) of op(B)[p0 .. p0+kc, j0 .. j0+nc) cut into slivers of nr
 * columns. Sliver s starts at dst + s*nr*kc and holds element (p, s*nr + j) at [p*nr + j]:
 * the nr values of one row of the sliver are contiguous. Columns past nc are zeros.
 * op(B)(p, j) is b[p*ldb + j], or b[j*ldb + p] when trans. From table t as for
 * ck_gemm_pack_a: prefetch_rows and the transposes' fields. row_block (the table's
 * pack_b_row_block for a group of own slivers; 0: none): B as stored is packed that many rows
 * at a time across all the slivers, reading along its rows, rather than a sliver at a time, a
 * short piece of each of kc rows ldb apart (with the asks ahead). */
void ck_gemm_pack_b(const ck_gemm_table *t, int trans, const float *b, int64_t ldb, int64_t p0,
                    int64_t j0, int64_t nc, int64_t kc, int nr, int64_t s_begin, int64_t s_end,
                    int64_t row_block, float *dst);

#endif
