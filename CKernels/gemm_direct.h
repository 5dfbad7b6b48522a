/* Internal: direct (unpacked) products for GEMMs too small or too narrow to pay for packing.
 * Written once with vector extensions (gemm_direct_common.h, gemm_direct_broadcast.h,
 * gemm_direct_dot.h) and compiled once per instruction set (gemm_isa_<path>.c, whose
 * ck_gemm_isa table names them). The plan (gemm_plan.h) decides when to use them, the routes
 * (gemm_broadcast.h, gemm_dot.h) how to map op(A), op(B) and C onto their operands X, Y and
 * D.
 *
 * Every element of D is one fixed sequence of operations that depends only on the shape:
 * the kernels may run their rows on several threads without changing a bit. */
#ifndef CK_GEMM_DIRECT_H
#define CK_GEMM_DIRECT_H

#include <stddef.h>
#include <stdint.h>

/* What happens to each element D(i, j) of a product once it is finished (the epilogues of
 * ck_sgemm_bias_relu and ck_sgemm_relu_backward; kernels take it by pointer, NULL for none):
 *     v = D(i, j) + bias(i, j)      (when bias != NULL)
 *     v = v < 0 ? 0 : v             (when relu != 0: NaN and -0 stay as they are)
 *     v = mask(i, j) > 0 ? v : +0   (when mask != NULL: the ReLU's backward pass, mask being
 *                                    its output; NaN in mask gives +0)
 * bias(i, j) = bias[i*rs + j*cs], with (rs, cs) = (0, 1) (one bias per column of D) or
 * (1, 0) (one per row); mask(i, j) = mask[i*mrs + j*mcs], with mcs == 1 (rows of D along
 * the mask's rows) or mrs == 1 (D transposed: columns of D along the mask's rows).
 * Kernels apply it to finished values still in registers or cache.
 * The addition is always a statement of its own, after the one that rounds alpha * acc
 * + beta * old (clang's -ffp-contract=on fuses only within an expression), so the result is
 * bitwise that of ck_bias_add, ck_relu_forward and ck_relu_backward run after the product. */
typedef struct {
    const float *bias; /* NULL: no bias */
    int64_t rs, cs;
    int relu;
    const float *mask; /* NULL: no mask */
    int64_t mrs, mcs;
} ck_gemm_epilogue;

/* Whether e does anything at all. */
static inline int ck_gemm_epilogue_any(const ck_gemm_epilogue *e) {
    return e->bias != NULL || e->relu || e->mask != NULL;
}

/* The epilogue of D's transpose: D^T(i, j) gets what D(j, i) gets. */
static inline ck_gemm_epilogue ck_gemm_epilogue_transposed(ck_gemm_epilogue e) {
    return (ck_gemm_epilogue){.bias = e.bias, .rs = e.cs, .cs = e.rs, .relu = e.relu,
                              .mask = e.mask, .mrs = e.mcs, .mcs = e.mrs};
}

/* The epilogue of the block of D that starts at (i, j), indexed from there. */
static inline ck_gemm_epilogue ck_gemm_epilogue_at(ck_gemm_epilogue e, int64_t i, int64_t j) {
    if (e.bias != NULL) e.bias += i * e.rs + j * e.cs;
    if (e.mask != NULL) e.mask += i * e.mrs + j * e.mcs;
    return e;
}

/* The epilogue of element (i, j), of value v. */
static inline float ck_gemm_epilogue_element(const ck_gemm_epilogue *e, int64_t i, int64_t j,
                                             float v) {
    if (e->bias != NULL) v += e->bias[i * e->rs + j * e->cs];
    if (e->relu && v < 0.0f) v = 0.0f;
    if (e->mask != NULL && !(e->mask[i * e->mrs + j * e->mcs] > 0.0f)) v = 0.0f;
    return v;
}

/* Broadcast form, vectors along the columns of D (m x n):
 *     D(i, j) = alpha * sum_{p < k} X(i, p) * Y(p, j) + beta * D(i, j)
 * X(i, p) = x[i*rs_x + p*cs_x] (any strides: X is read one scalar at a time),
 * Y(p, j) = y[p*ldy + j] (rows contiguous), D(i, j) = d[i*rs_d + j*cs_d] (any strides; cs_d
 * == 1 stores whole vectors). Each element: one multiply-add chain over p from zero, then
 * the epilogue e (NULL: none). beta == 0: D is not read. k >= 1. The first tile of each
 * panel of D's columns asks for Y's rows `ahead` rows on (0: none). */
typedef void (*ck_gemm_direct_broadcast)(int64_t m, int64_t n, int64_t k, float alpha,
                                         const float *x, int64_t rs_x, int64_t cs_x,
                                         const float *y, int64_t ldy, int64_t ahead,
                                         float beta, float *d, int64_t rs_d, int64_t cs_d,
                                         const ck_gemm_epilogue *e);

/* Dot form, vectors along k, for few columns and a long k:
 *     D(i, j) = alpha * sum_{p < k} X(i, p) * Yt(j, p) + beta * D(i, j)
 * X(i, p) = x[i*ldx + p] and Yt(j, p) = yt[j*ldyt + p] (both rows contiguous along p),
 * D(i, j) = d[i*ldd + j]. Each element: lane-wise chains over p (AVX-512 takes the last
 * k % lanes terms as one more, masked, step), a fixed pairwise sum of the lanes, then (other
 * paths) the remaining p in order, then the epilogue e (NULL: none). Runs rows on `threads`
 * threads (1: no parallel region), or columns when D is wider than tall, each thread's
 * columns column_block (>= 1; the table's dot_column_block) at a time. beta == 0: D is not read.
 * k >= 1. */
typedef void (*ck_gemm_direct_dot)(int64_t m, int64_t n, int64_t k, float alpha,
                                   const float *x, int64_t ldx, const float *yt, int64_t ldyt,
                                   float beta, float *d, int64_t ldd, const ck_gemm_epilogue *e,
                                   int64_t column_block, int threads);

/* The most terms per sum the row panels hold in registers. */
#define CK_GEMM_ROW_PANEL_MAX_K 4

/* Row panels, the broadcast form for very few terms per sum, alpha 1 and beta 0 (a first
 * layer with 2 or 3 inputs, dX of a layer with 3 outputs), D's rows contiguous:
 *     D(i, j) = sum_{p < k} X(i, p) * Y(p, j), then the epilogue e (NULL: none)
 * X and Y as in the broadcast form, D(i, j) = d[i*rs_d + j]; 1 <= k <= CK_GEMM_ROW_PANEL_MAX_K
 * and e accepted by ck_gemm_row_panels_fit. The same bits as the broadcast form. */
typedef void (*ck_gemm_direct_row_panels)(int64_t m, int64_t n, int64_t k, const float *x,
                                          int64_t rs_x, int64_t cs_x, const float *y,
                                          int64_t ldy, float *d, int64_t rs_d,
                                          const ck_gemm_epilogue *e);

/* Whether the row panels are compiled for epilogue e (NULL: none): anything but a bias per
 * row or along with a mask, a mask with ReLU, and a mask along D's columns. */
static inline __attribute__((always_inline)) int ck_gemm_row_panels_fit(const ck_gemm_epilogue *e) {
    if (e == NULL) return 1;
    if (e->mask == NULL) return e->bias == NULL || (e->rs == 0 && e->cs == 1);
    return e->bias == NULL && !e->relu && e->mcs == 1;
}

/* The epilogue e on every element of the rows x cols block at d (row-major, leading
 * dimension ldd), whose element (0, 0) is e's: vectors along the rows. For parts of C the
 * driver has just finished (columns of the packed path's tiles, the scale path's rows). */
typedef void (*ck_gemm_epilogue_block)(int64_t rows, int64_t cols, float *d, int64_t ldd,
                                       const ck_gemm_epilogue *e);

/* dst (cols x rows, dense) = the transpose of src (rows x cols, leading dimension lds): the
 * copy of B that the direct forms need when B's layout is not theirs. */
typedef void (*ck_gemm_transpose)(int64_t rows, int64_t cols, const float *src, int64_t lds,
                                  float *dst);

#endif
