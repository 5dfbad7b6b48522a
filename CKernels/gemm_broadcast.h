/* Internal: the GEMM's broadcast routes (gemm_plan.h): the broadcast form (gemm_direct.h),
 * which wants Y's rows contiguous and vectorizes along D's columns, with op(A), op(B) and C
 * mapped onto X, Y and D so that it does:
 *   BROADCAST, ROW_PANELS   D = C, X = op(A), Y = B as stored, or a k x n copy of op(B)
 *                           when B is transposed;
 *   BROADCAST_TRANSPOSED    D = Cᵀ (n x m), X = op(B)ᵀ, Y = op(A)ᵀ = A as stored, and the
 *                           epilogue's bias (one per column of C) indexed by D's row; D's
 *                           columns (C's rows) split between the threads in shares of 32.
 * Included by gemm.c alone, whose entry points inline it: the products these routes take
 * are small enough that a call level shows. */
#ifndef CK_GEMM_BROADCAST_H
#define CK_GEMM_BROADCAST_H

#include "gemm_plan.h"
#include "scratch.h"

/* The k x n copy of a transposed B, per thread, only growing. */
static _Thread_local ck_scratch broadcast_b_copy;

/* The transposed problem on D's columns [begin, end), that is C's rows; e is D's epilogue
 * (NULL: none). */
static inline __attribute__((always_inline)) void
transposed_columns(const ck_gemm_table *t, const ck_gemm_operands *g, const ck_gemm_epilogue *e,
                   int64_t begin, int64_t end) {
    const ck_gemm_epilogue ej =
        e != NULL ? ck_gemm_epilogue_at(*e, 0, begin) : (ck_gemm_epilogue){0};
    t->isa->direct_broadcast(g->n, end - begin, g->k, g->alpha, g->b, g->trans_b ? g->ldb : 1,
                             g->trans_b ? 1 : g->ldb, g->a + begin, g->lda, g->beta,
                             g->c + begin * g->ldc, 1, g->ldc, e != NULL ? &ej : NULL);
}

/* transposed_columns as one thread's share. The operands are a copy, made only when the
 * product runs on several threads: on one, g needs no address and stays in registers. */
typedef struct {
    const ck_gemm_table *t;
    ck_gemm_operands g;
    const ck_gemm_epilogue *e;
} transposed_args;

static void transposed_share(const void *args, int64_t begin, int64_t end) {
    const transposed_args *s = args;
    transposed_columns(s->t, &s->g, s->e, begin, end);
}

static inline __attribute__((always_inline)) void
ck_gemm_broadcast(const ck_gemm_table *t, const ck_gemm_operands *g, ck_gemm_plan plan) {
    if (plan.route == CK_GEMM_ROUTE_BROADCAST_TRANSPOSED) {
        /* D's row i is C's column i: the bias and mask strides swap. */
        const ck_gemm_epilogue et = g->epilogue != NULL
                                        ? ck_gemm_epilogue_transposed(*g->epilogue)
                                        : (ck_gemm_epilogue){0};
        const ck_gemm_epilogue *e = g->epilogue != NULL ? &et : NULL;
        if (plan.threads <= 1) {
            transposed_columns(t, g, e, 0, g->m);
        } else {
            const transposed_args args = {t, *g, e};
            ck_parallel_region(g->m, 32, plan.threads, transposed_share, &args);
        }
        return;
    }
    const float *y = g->b;
    int64_t ldy = g->ldb;
    if (g->trans_b) {
        float *copy = ck_scratch_get(&broadcast_b_copy, (size_t)(g->k * g->n));
        t->isa->transpose(g->n, g->k, g->b, g->ldb, copy);
        y = copy;
        ldy = g->n;
    }
    const int64_t rs_x = g->trans_a ? 1 : g->lda, cs_x = g->trans_a ? g->lda : 1;
    if (plan.route == CK_GEMM_ROUTE_ROW_PANELS)
        t->isa->direct_row_panels(g->m, g->n, g->k, g->a, rs_x, cs_x, y, ldy, g->c, g->ldc,
                                  g->epilogue);
    else
        t->isa->direct_broadcast(g->m, g->n, g->k, g->alpha, g->a, rs_x, cs_x, y, ldy, g->beta,
                                 g->c, g->ldc, 1, g->epilogue);
}

#endif
