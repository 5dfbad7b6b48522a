/* Plain serial loops: the naive GEMM the blocked one is compared with, and the element-wise
 * kernels without any parallel region (a kernel that opens one when it does not pay loses
 * to these at small sizes). Same -O3 and instruction-set baseline as the kernels. */
#include "benchmark_support.h"

#include <math.h>
#include <stddef.h>

void bench_naive_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                       int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int64_t p = 0; p < k; p++) {
                float aip = trans_a ? a[p * lda + i] : a[i * lda + p];
                float bpj = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                sum += aip * bpj;
            }
            c[i * ldc + j] = sum;
        }
}

void bench_serial_bias_add(int64_t rows, int64_t cols, float *x, const float *bias) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) x[i * cols + j] += bias[j];
}

void bench_serial_relu_forward(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void bench_serial_relu_backward(int64_t n, const float *y, const float *dy, float *dx) {
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

float bench_serial_softmax_cross_entropy(int64_t rows, int64_t classes, const float *logits,
                                         const int32_t *labels, float *dlogits) {
    float loss = 0.0f;
    for (int64_t i = 0; i < rows; i++) {
        const float *z = logits + i * classes;
        float *d = dlogits + i * classes;
        float max = z[0];
        for (int64_t j = 1; j < classes; j++) max = z[j] > max ? z[j] : max;
        float sum = 0.0f;
        for (int64_t j = 0; j < classes; j++) sum += d[j] = expf(z[j] - max);
        for (int64_t j = 0; j < classes; j++) d[j] *= 1.0f / (sum * (float)rows);
        d[labels[i]] -= 1.0f / (float)rows;
        loss += logf(sum) - (z[labels[i]] - max);
    }
    return loss / (float)rows;
}

void bench_serial_sgd_momentum(int64_t n, float *param, const float *grad, float *velocity,
                               float lr, float momentum, float weight_decay) {
    for (int64_t i = 0; i < n; i++) {
        float v = momentum * velocity[i] + (grad[i] + weight_decay * param[i]);
        velocity[i] = v;
        param[i] -= lr * v;
    }
}

void bench_serial_sgd(int64_t n, float *param, const float *grad, float lr, float weight_decay) {
    for (int64_t i = 0; i < n; i++) param[i] -= lr * (grad[i] + weight_decay * param[i]);
}

void bench_serial_convolution_columns(int64_t batch, int64_t channels, int64_t side,
                                      int to_images, float *images, float *columns) {
    const int64_t pixels = side * side;
    if (to_images)
        for (int64_t i = 0; i < batch * channels * pixels; i++) images[i] = 0.0f;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t k = 0; k < 9; k++)
            for (int64_t b = 0; b < batch; b++)
                for (int64_t oy = 0; oy < side; oy++)
                    for (int64_t ox = 0; ox < side; ox++) {
                        const int64_t iy = oy + k / 3 - 1, ix = ox + k % 3 - 1;
                        float *column =
                            columns + ((c * 9 + k) * batch + b) * pixels + oy * side + ox;
                        float *pixel = iy >= 0 && iy < side && ix >= 0 && ix < side
                            ? images + ((b * channels + c) * side + iy) * side + ix
                            : NULL;
                        if (to_images) {
                            if (pixel) *pixel += *column;
                        } else {
                            *column = pixel ? *pixel : 0.0f;
                        }
                    }
}

void bench_serial_max_pool_2x2(int64_t planes, int64_t side, const float *x, float *y,
                               int64_t *argmax) {
    const int64_t out = side / 2;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oy = 0; oy < out; oy++)
            for (int64_t ox = 0; ox < out; ox++) {
                int64_t best = 2 * oy * side + 2 * ox;
                for (int64_t dy = 0; dy < 2; dy++)
                    for (int64_t dx = 0; dx < 2; dx++) {
                        const int64_t at = (2 * oy + dy) * side + 2 * ox + dx;
                        if (x[p * side * side + at] > x[p * side * side + best]) best = at;
                    }
                y[(p * out + oy) * out + ox] = x[p * side * side + best];
                argmax[(p * out + oy) * out + ox] = best;
            }
}
