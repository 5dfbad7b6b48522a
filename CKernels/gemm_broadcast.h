/* Internal: the GEMM's broadcast routes (gemm_plan.h): the broadcast form (gemm_direct.h),
 * which wants Y's rows contiguous and vectorizes along D's columns, with op(A), op(B) and C
 * mapped onto X, Y and D so that it does:
 *   BROADCAST, ROW_PANELS   D = C, X = op(A), Y = B as stored, or a k x n copy of op(B)
 *                           when B is transposed (on one thread); BROADCAST's D's columns
 *                           (or rows) split between the threads;
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

/* One thread's share of a broadcast route. The operands are a copy, made only when the
 * product runs on several threads: on one, g needs no address and stays in registers. */
typedef struct {
    const ck_gemm_table *t;
    ck_gemm_operands g;
    const ck_gemm_epilogue *e; /* BROADCAST_TRANSPOSED: D's epilogue */
} broadcast_args;

/* The transposed problem on D's columns [begin, end), that is C's rows; e is D's epilogue
 * (NULL: none). */
static inline __attribute__((always_inline)) void
transposed_columns(const ck_gemm_table *t, const ck_gemm_operands *g, const ck_gemm_epilogue *e,
                   int64_t begin, int64_t end) {
    const ck_gemm_epilogue ej =
        e != NULL ? ck_gemm_epilogue_at(*e, 0, begin) : (ck_gemm_epilogue){0};
    t->isa->direct_broadcast(g->n, end - begin, g->k, g->alpha, g->b, g->trans_b ? g->ldb : 1,
                             g->trans_b ? 1 : g->ldb, g->a + begin, g->lda, t->prefetch_rows,
                             g->beta, g->c + begin * g->ldc, 1, g->ldc, e != NULL ? &ej : NULL);
}

static void transposed_share(const void *args, int64_t begin, int64_t end) {
    const broadcast_args *s = args;
    transposed_columns(s->t, &s->g, s->e, begin, end);
}

/* The k rows of op(B)'s columns [begin, end), *ldy floats apart: B as stored, or, when B is
 * transposed, a k x (end - begin) copy of them. */
static inline __attribute__((always_inline)) const float *
b_rows(const ck_gemm_table *t, const ck_gemm_operands *g, int64_t begin, int64_t end,
       int64_t *ldy) {
    if (!g->trans_b) {
        *ldy = g->ldb;
        return g->b + begin;
    }
    float *copy = ck_scratch_get(&broadcast_b_copy, (size_t)(g->k * (end - begin)));
    t->isa->transpose(end - begin, g->k, g->b + begin * g->ldb, g->ldb, copy);
    *ldy = end - begin;
    return copy;
}

/* The problem D = C on its rows [i0, i1) and columns [j0, j1): X = op(A), Y = those columns
 * of op(B), by the broadcast form or (route ROW_PANELS) its row panels. */
static inline __attribute__((always_inline)) void
direct_block(const ck_gemm_table *t, const ck_gemm_operands *g, ck_gemm_route route, int64_t i0,
             int64_t i1, int64_t j0, int64_t j1) {
    int64_t ldy;
    const float *y = b_rows(t, g, j0, j1, &ldy);
    const int64_t rs_x = g->trans_a ? 1 : g->lda, cs_x = g->trans_a ? g->lda : 1;
    const ck_gemm_epilogue ej = g->epilogue != NULL ? ck_gemm_epilogue_at(*g->epilogue, i0, j0)
                                                    : (ck_gemm_epilogue){0};
    const ck_gemm_epilogue *e = g->epilogue != NULL ? &ej : NULL;
    const float *x = g->a + i0 * rs_x;
    float *d = g->c + i0 * g->ldc + j0;
    if (route == CK_GEMM_ROUTE_ROW_PANELS)
        t->isa->direct_row_panels(i1 - i0, j1 - j0, g->k, x, rs_x, cs_x, y, ldy, d, g->ldc, e);
    else
        t->isa->direct_broadcast(i1 - i0, j1 - j0, g->k, g->alpha, x, rs_x, cs_x, y, ldy,
                                 t->prefetch_rows, g->beta, d, g->ldc, 1, e);
}

/* A share of BROADCAST on several threads (B as stored, read by all of them): D's columns
 * [begin, end), or its rows where the product has too few columns for every thread. */
static void direct_columns_share(const void *args, int64_t begin, int64_t end) {
    const broadcast_args *s = args;
    direct_block(s->t, &s->g, CK_GEMM_ROUTE_BROADCAST, 0, s->g.m, begin, end);
}
static void direct_rows_share(const void *args, int64_t begin, int64_t end) {
    const broadcast_args *s = args;
    direct_block(s->t, &s->g, CK_GEMM_ROUTE_BROADCAST, begin, end, 0, s->g.n);
}

/* The shares of D between threads: columns in multiples of 32 (whole vectors on every
 * instruction set), rows in multiples of 8. */
enum { BROADCAST_COLUMN_UNIT = 32, BROADCAST_ROW_UNIT = 8 };

/* Both broadcast routes and the row panels. On several threads each thread takes a share of
 * D's columns, or, with fewer than BROADCAST_COLUMN_UNIT columns a thread, of its rows: every
 * element is computed as on one thread. */
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
            const broadcast_args args = {t, *g, e};
            ck_parallel_region(g->m, BROADCAST_COLUMN_UNIT, plan.threads, transposed_share, &args);
        }
    } else if (plan.threads <= 1) {
        direct_block(t, g, plan.route, 0, g->m, 0, g->n);
    } else if (g->n >= BROADCAST_COLUMN_UNIT * plan.threads) {
        const broadcast_args args = {t, *g, NULL};
        ck_parallel_region(g->n, BROADCAST_COLUMN_UNIT, plan.threads, direct_columns_share, &args);
    } else {
        const broadcast_args args = {t, *g, NULL};
        ck_parallel_region(g->m, BROADCAST_ROW_UNIT, plan.threads, direct_rows_share, &args);
    }
}

#endif
