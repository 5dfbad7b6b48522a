/* The GEMM's SCALE route (gemm_plan.h): alpha == 0 or k == 0 leave C = beta * C, then the
 * epilogue. Neither A nor B is read. */
#include "gemm_plan.h"

#include <string.h>

typedef struct {
    int64_t n, ldc;
    float beta;
    float *c;
    const ck_gemm_epilogue *epilogue; /* NULL: none */
    ck_gemm_epilogue_block apply;     /* the instruction set's epilogue */
} scale_args;

/* Rows [begin, end) of C: beta == 0 writes zeros without reading C; beta == 1 leaves C as it
 * is. */
static void scale_rows(const void *args, int64_t begin, int64_t end) {
    const scale_args *s = args;
    for (int64_t i = begin; i < end; i++) {
        float *row = s->c + i * s->ldc;
        if (s->beta == 0.0f)
            memset(row, 0, (size_t)s->n * sizeof(float));
        else if (s->beta != 1.0f)
            for (int64_t j = 0; j < s->n; j++) row[j] *= s->beta;
        if (s->epilogue != NULL) {
            const ck_gemm_epilogue e = ck_gemm_epilogue_at(*s->epilogue, i, 0);
            s->apply(1, s->n, row, s->ldc, &e);
        }
    }
}

void ck_gemm_scale(const ck_gemm_table *t, const ck_gemm_operands *g, int threads) {
    if (g->beta == 1.0f && g->epilogue == NULL) return;
    const scale_args args = {g->n, g->ldc, g->beta, g->c, g->epilogue, t->isa->epilogue};
    ck_parallel_for(g->m, 1, threads, scale_rows, &args);
}
