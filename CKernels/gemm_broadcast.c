/* The GEMM's broadcast routes (gemm_plan.h): the broadcast form (gemm_direct.h), which wants
 * Y's rows contiguous and vectorizes along D's columns, with op(A), op(B) and C mapped onto
 * X, Y and D so that it does:
 *   BROADCAST, ROW_PANELS   D = C, X = op(A), Y = B as stored, or a k x n copy of op(B)
 *                           when B is transposed;
 *   BROADCAST_TRANSPOSED    D = Cᵀ (n x m), X = op(B)ᵀ, Y = op(A)ᵀ = A as stored, and the
 *                           epilogue's bias (one per column of C) indexed by D's row; D's
 *                           columns (C's rows) split between the threads in shares of 32. */
#include "gemm_plan.h"
#include "scratch.h"

/* The k x n copy of a transposed B, per thread, only growing. */
static _Thread_local ck_scratch b_copy;

typedef struct {
    const ck_gemm_table *t;
    const ck_gemm_operands *g;
    const ck_gemm_epilogue *e; /* D's epilogue (NULL: none) */
} transposed_args;

/* The transposed problem on D's columns [begin, end), that is C's rows. */
static void transposed_columns(const void *args, int64_t begin, int64_t end) {
    const transposed_args *s = args;
    const ck_gemm_operands *g = s->g;
    const ck_gemm_epilogue ej =
        s->e != NULL ? ck_gemm_epilogue_at(*s->e, 0, begin) : (ck_gemm_epilogue){0};
    s->t->isa->direct_broadcast(g->n, end - begin, g->k, g->alpha, g->b,
                                g->trans_b ? g->ldb : 1, g->trans_b ? 1 : g->ldb, g->a + begin,
                                g->lda, g->beta, g->c + begin * g->ldc, 1, g->ldc,
                                s->e != NULL ? &ej : NULL);
}

void ck_gemm_broadcast(const ck_gemm_table *t, const ck_gemm_operands *g, ck_gemm_plan plan) {
    if (plan.route == CK_GEMM_ROUTE_BROADCAST_TRANSPOSED) {
        /* D's row i is C's column i: the bias and mask strides swap. */
        const ck_gemm_epilogue et = g->epilogue != NULL
                                        ? ck_gemm_epilogue_transposed(*g->epilogue)
                                        : (ck_gemm_epilogue){0};
        const transposed_args args = {t, g, g->epilogue != NULL ? &et : NULL};
        if (plan.threads <= 1)
            transposed_columns(&args, 0, g->m);
        else
            ck_parallel_for(g->m, 32, plan.threads, transposed_columns, &args);
        return;
    }
    const float *y = g->b;
    int64_t ldy = g->ldb;
    if (g->trans_b) {
        float *copy = ck_scratch_get(&b_copy, (size_t)(g->k * g->n));
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
