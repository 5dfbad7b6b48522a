/* Losses: fused softmax + cross-entropy, and softmax for prediction. */
#include "ckernels.h"
#include "threading.h"

#include <math.h>

/* The loss is summed in chunks of rows whose boundaries depend only on `rows`, never on the
 * thread count; the chunk sums are then added in chunk order. At most this many chunks. */
#define LOSS_CHUNKS 64

static float row_max(int64_t classes, const float *z) {
    float max = z[0];
    for (int64_t j = 1; j < classes; j++)
        if (z[j] > max) max = z[j];
    return max;
}

/* Returns the sum of exp(z[j] - max) over one row, and writes each term to e[j] unless e is
 * NULL (e may be z). Subtracting the row maximum keeps every exponent <= 0: no overflow. */
static float sum_exp_shifted(int64_t classes, const float *z, float max, float *e) {
    float sum = 0.0f;
    for (int64_t j = 0; j < classes; j++) {
        float term = expf(z[j] - max);
        if (e) e[j] = term;
        sum += term;
    }
    return sum;
}

/* -log softmax(z)[label] = log(sum_j exp(z_j - max)) - (z_label - max). When d is not NULL,
 * also d = (softmax(z) - onehot(label)) * scale; d may be z. */
static float row_cross_entropy(int64_t classes, const float *z, int32_t label, float *d,
                               float scale) {
    float max = row_max(classes, z);
    float shifted_label = z[label] - max; /* read before d (possibly z) is written */
    float sum = sum_exp_shifted(classes, z, max, d);
    if (d) {
        float factor = scale / sum;
        for (int64_t j = 0; j < classes; j++) d[j] *= factor;
        d[label] -= scale;
    }
    return logf(sum) - shifted_label;
}

int ck_softmax_cross_entropy(int64_t rows, int64_t classes, const float *logits,
                             const int32_t *labels, float *dlogits, float *loss) {
    for (int64_t i = 0; i < rows; i++)
        if (labels[i] < 0 || labels[i] >= classes) return CK_ERROR_LABEL_OUT_OF_RANGE;
    if (rows <= 0 || classes <= 0) return 0;

    int64_t chunk_rows = (rows + LOSS_CHUNKS - 1) / LOSS_CHUNKS;
    if (chunk_rows < 64) chunk_rows = 64;
    int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
    double chunk_sum[LOSS_CHUNKS];
    float scale = 1.0f / (float)rows;
    int threads = ck_threads_for(rows * classes, CK_PARALLEL_MIN_ELEMENTS);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t end = (c + 1) * chunk_rows < rows ? (c + 1) * chunk_rows : rows;
        double sum = 0.0;
        for (int64_t i = c * chunk_rows; i < end; i++)
            sum += row_cross_entropy(classes, logits + i * classes, labels[i],
                                     dlogits ? dlogits + i * classes : 0, scale);
        chunk_sum[c] = sum;
    }
    double total = 0.0;
    for (int64_t c = 0; c < chunks; c++) total += chunk_sum[c];
    *loss = (float)(total / (double)rows);
    return 0;
}

void ck_softmax(int64_t rows, int64_t classes, const float *logits, float *probs) {
    int threads = ck_threads_for(rows * classes, CK_PARALLEL_MIN_ELEMENTS);
#pragma omp parallel for num_threads(threads) if (threads > 1) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const float *z = logits + i * classes;
        float *p = probs + i * classes;
        float inv_sum = 1.0f / sum_exp_shifted(classes, z, row_max(classes, z), p);
        for (int64_t j = 0; j < classes; j++) p[j] *= inv_sum;
    }
}
