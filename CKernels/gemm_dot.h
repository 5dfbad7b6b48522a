/* Internal: the GEMM's DOT route (gemm_plan.h): the dot form (gemm_direct.h) with X = op(A)
 * = A as stored (rows along k) and Yt = op(B)ᵀ, which is B itself when B is transposed and
 * otherwise a transposed copy. Included by gemm.c alone, whose entry points inline it: the
 * products this route takes are small enough that a call level shows. */
#ifndef CK_GEMM_DOT_H
#define CK_GEMM_DOT_H

#include "gemm_plan.h"
#include "scratch.h"

/* The transposed copy of B, per thread, only growing. */
static _Thread_local ck_scratch dot_b_copy;

static inline __attribute__((always_inline)) void
ck_gemm_dot(const ck_gemm_table *t, const ck_gemm_operands *g, int threads) {
    const float *yt = g->b;
    int64_t ldyt = g->ldb;
    if (!g->trans_b) {
        float *copy = ck_scratch_get(&dot_b_copy, (size_t)(g->n * g->k));
        t->isa->transpose(g->k, g->n, g->b, g->ldb, copy);
        yt = copy;
        ldyt = g->k;
    }
    t->isa->direct_dot(g->m, g->n, g->k, g->alpha, g->a, g->lda, yt, ldyt, g->beta, g->c,
                       g->ldc, g->epilogue, t->dot_column_block, threads);
}

#endif
