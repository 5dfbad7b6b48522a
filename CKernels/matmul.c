/* Batched matrix products for the graph: ck_sgemm over each matrix of a batch. */
#include "ckernels.h"

void ck_sgemm_batched(int64_t batch, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, const float *a, int64_t lda, int64_t stride_a,
                      const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                      int64_t ldc, int64_t stride_c) {
    if (m == 0 || n == 0) return; /* no C (the pointers may be NULL) */
    /* A shared C of an empty batch is the empty sum: C = beta * C, k = 0 reading no operand. */
    if (batch == 0 && stride_c == 0)
        ck_sgemm(trans_a, trans_b, m, n, 0, alpha, a, lda, b, ldb, beta, c, ldc);
    /* A and B are read only when there are products to add (ck_sgemm's rule): otherwise they
     * may be NULL, and no pointer is formed from them. */
    const int reads_operands = k != 0 && alpha != 0.0f;
    for (int64_t i = 0; i < batch; i++) {
        /* A C shared by the batch (stride 0) sums the products, in batch order. */
        float beta_i = stride_c == 0 && i > 0 ? 1.0f : beta;
        ck_sgemm(trans_a, trans_b, m, n, k, alpha, reads_operands ? a + i * stride_a : a, lda,
                 reads_operands ? b + i * stride_b : b, ldb, beta_i, c + i * stride_c, ldc);
    }
}
