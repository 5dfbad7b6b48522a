/* Losses: fused softmax + cross-entropy, and softmax for prediction. */
#include "ckernels.h"
#include "threading.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The loss is summed in chunks of rows whose boundaries depend only on `rows`, never on the
 * thread count; the chunk sums are then added in chunk order. At most this many chunks. */
#define LOSS_CHUNKS 64

static inline float row_max(int64_t classes, const float *z) {
    float max = z[0];
    for (int64_t j = 1; j < classes; j++)
        if (z[j] > max) max = z[j];
    return max;
}

/* e^x for x <= 0, in plain arithmetic so that loops over it vectorize (libm's expf is a call
 * per element). x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two for an exact n ln2), e^r by
 * its Taylor polynomial of degree 7 (truncation error below 1e-8 relative), times 2^n built
 * in the exponent bits. Below -87.3, where 2^n would leave the normal range, the result is 0;
 * NaN stays NaN. Within about 2 ulp of expf. */
static inline float exp_nonpositive(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693145751953125f,
                ln2_lo = 1.42860682030941723212e-6f;
    float n = rintf(x * log2e);
    float r = (x - n * ln2_hi) - n * ln2_lo;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* n as an integer only where it is one in range (NaN or x < -87.3 would be UB to convert). */
    int32_t bits = ((int32_t)(x >= -87.3f && x <= 0.0f ? n : 0.0f) + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.3f ? 0.0f : p * scale;
}

/* Returns the sum of exp(z[j] - max) over one row, and writes each term to e[j] unless e is
 * NULL (e may be z). Subtracting the row maximum keeps every exponent <= 0: no overflow. The
 * sum is taken in vector lanes (an order fixed by the instruction set, not by threads). */
static inline float sum_exp_shifted(int64_t classes, const float *z, float max, float *e) {
    float sum = 0.0f;
    if (e) {
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < classes; j++) {
            e[j] = exp_nonpositive(z[j] - max);
            sum += e[j];
        }
    } else {
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < classes; j++) sum += exp_nonpositive(z[j] - max);
    }
    return sum;
}

/* -log softmax(z)[label] = log(sum_j exp(z_j - max)) - (z_label - max). When d is not NULL,
 * also d = (softmax(z) - onehot(label)) * scale; d may be z. */
static inline float row_cross_entropy(int64_t classes, const float *z, int32_t label, float *d,
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

typedef struct {
    int64_t rows, classes, chunk_rows;
    const float *logits;
    const int32_t *labels;
    float *dlogits;
    double *chunk_sum;
} cross_entropy_args;

/* Chunks [begin, end): each chunk's loss sum, rows in order, and its rows' gradients. */
CK_VECTORIZED static void cross_entropy_chunks(const void *args, int64_t begin, int64_t end) {
    const cross_entropy_args *a = args;
    float scale = 1.0f / (float)a->rows;
    for (int64_t c = begin; c < end; c++) {
        int64_t last = (c + 1) * a->chunk_rows < a->rows ? (c + 1) * a->chunk_rows : a->rows;
        double sum = 0.0;
        for (int64_t i = c * a->chunk_rows; i < last; i++)
            sum += row_cross_entropy(a->classes, a->logits + i * a->classes, a->labels[i],
                                     a->dlogits ? a->dlogits + i * a->classes : 0, scale);
        a->chunk_sum[c] = sum;
    }
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
    cross_entropy_args args = {rows, classes, chunk_rows, logits, labels, dlogits, chunk_sum};
    ck_parallel_for(chunks, 1, ck_threads_for(rows * classes, CK_PARALLEL_MIN_ELEMENTS),
                    cross_entropy_chunks, &args);
    double total = 0.0;
    for (int64_t c = 0; c < chunks; c++) total += chunk_sum[c];
    *loss = (float)(total / (double)rows);
    return 0;
}

typedef struct {
    int64_t classes;
    const float *logits;
    float *probs;
} softmax_args;

CK_VECTORIZED static void softmax_rows(const void *args, int64_t begin, int64_t end) {
    const softmax_args *a = args;
    for (int64_t i = begin; i < end; i++) {
        const float *z = a->logits + i * a->classes;
        float *p = a->probs + i * a->classes;
        float inv_sum = 1.0f / sum_exp_shifted(a->classes, z, row_max(a->classes, z), p);
        for (int64_t j = 0; j < a->classes; j++) p[j] *= inv_sum;
    }
}

void ck_softmax(int64_t rows, int64_t classes, const float *logits, float *probs) {
    softmax_args args = {classes, logits, probs};
    ck_parallel_for(rows, 1, ck_threads_for(rows * classes, CK_PARALLEL_MIN_ELEMENTS),
                    softmax_rows, &args);
}
