/* Batch normalization over a dense batch x channels x pixels tensor (N x F with pixels = 1,
 * NCHW with pixels = H * W): per-channel statistics in training, running statistics in
 * evaluation, and the backward pass. Channels are independent: each is handled on one thread,
 * its sums taken in double in a fixed order (channel_sum.h), so the bits do not depend on the
 * thread count. Compiled without contracting a * b + c into a fused multiply-add (FP_CONTRACT
 * OFF), so that every instruction-set clone computes the same bits. */
#pragma STDC FP_CONTRACT OFF

#include "channel_sum.h"
#include "ckernels.h"
#include "threading.h"

#include <math.h>

typedef struct {
    int64_t batch, channels, pixels;
    const float *x, *gamma, *beta;
    float eps, momentum;
    float *y, *mean, *inv_std, *running_mean, *running_var;
} batch_norm_forward_args;

/* y = (x - mean) * scale + shift over channel c. */
static void scale_channel(const batch_norm_forward_args *a, int64_t c, float mean, float scale,
                          float shift) {
    for (int64_t b = 0; b < a->batch; b++) {
        int64_t base = (b * a->channels + c) * a->pixels;
        const float *x = a->x + base;
        float *y = a->y + base;
#pragma omp simd
        for (int64_t i = 0; i < a->pixels; i++) y[i] = (x[i] - mean) * scale + shift;
    }
}

/* Saves channel c's mean and 1 / sqrt(var + eps), moves its running statistics; returns
 * 1 / sqrt(var + eps). n: the channel's element count. */
static inline __attribute__((always_inline)) double store_statistics(
    const batch_norm_forward_args *a, int64_t c, float mean, double var, double n) {
    double inv_std = 1.0 / sqrt(var + (double)a->eps);
    a->mean[c] = mean;
    a->inv_std[c] = (float)inv_std;
    double unbiased = n > 1 ? var * n / (n - 1) : var;
    float m = a->momentum;
    a->running_mean[c] = (1 - m) * a->running_mean[c] + m * mean;
    a->running_var[c] = (1 - m) * a->running_var[c] + m * (float)unbiased;
    return inv_std;
}

/* Over channels: mean, biased variance, y, the saved statistics and the running ones. */
CK_VECTORIZED static void batch_norm_training_channels(const void *args, int64_t begin,
                                                       int64_t end) {
    const batch_norm_forward_args *a = args;
    channel_layout l = {a->batch, a->channels, a->pixels};
    double n = (double)(a->batch * a->pixels);
    for (int64_t c = begin; c < end; c++) {
        float mean = (float)(channel_sum(l, c, a->x) / n);
        double var = channel_centered_dot(l, c, a->x, mean, a->x, mean) / n;
        double inv_std = store_statistics(a, c, mean, var, n);
        scale_channel(a, c, mean, (float)((double)a->gamma[c] * inv_std), a->beta[c]);
    }
}

/* The channels of N x F input (pixels == 1) taken COLUMN_BLOCK at a time, reading the rows
 * in order rather than each channel's column on its own (a stride of F floats). */
enum { COLUMN_BLOCK = 64 };

/* channel_sum's total when only its lane 0 took terms, as it does for pixels == 1: the same
 * bits. */
static inline double lane_zero_total(double lane_zero) {
    double lane[CHANNEL_SUM_LANES] = {lane_zero};
    return channel_lanes_total(lane);
}

/* batch_norm_training_channels for pixels == 1: each channel's sums in channel_sum's order
 * (lane 0, b in order) and the same expressions, COLUMN_BLOCK channels side by side. */
CK_VECTORIZED static void batch_norm_training_columns(const void *args, int64_t begin,
                                                      int64_t end) {
    const batch_norm_forward_args *a = args;
    const int64_t channels = a->channels;
    double n = (double)a->batch;
    for (int64_t c0 = begin; c0 < end; c0 += COLUMN_BLOCK) {
        const int64_t w = end - c0 < COLUMN_BLOCK ? end - c0 : COLUMN_BLOCK;
        double sum[COLUMN_BLOCK] = {0}, dot[COLUMN_BLOCK] = {0};
        float mean[COLUMN_BLOCK], scale[COLUMN_BLOCK], shift[COLUMN_BLOCK];
        for (int64_t b = 0; b < a->batch; b++) {
            const float *x = a->x + b * channels + c0;
            for (int64_t j = 0; j < w; j++) sum[j] += x[j];
        }
        for (int64_t j = 0; j < w; j++) mean[j] = (float)(lane_zero_total(sum[j]) / n);
        for (int64_t b = 0; b < a->batch; b++) {
            const float *x = a->x + b * channels + c0;
            for (int64_t j = 0; j < w; j++)
                dot[j] += ((double)x[j] - (double)mean[j]) * ((double)x[j] - (double)mean[j]);
        }
        for (int64_t j = 0; j < w; j++) {
            double var = lane_zero_total(dot[j]) / n;
            double inv_std = store_statistics(a, c0 + j, mean[j], var, n);
            scale[j] = (float)((double)a->gamma[c0 + j] * inv_std);
            shift[j] = a->beta[c0 + j];
        }
        for (int64_t b = 0; b < a->batch; b++) {
            const float *x = a->x + b * channels + c0;
            float *y = a->y + b * channels + c0;
            for (int64_t j = 0; j < w; j++) y[j] = (x[j] - mean[j]) * scale[j] + shift[j];
        }
    }
}

/* Over channels: y from the running statistics; the saved statistics when asked. */
static void batch_norm_inference_channels(const void *args, int64_t begin, int64_t end) {
    const batch_norm_forward_args *a = args;
    for (int64_t c = begin; c < end; c++) {
        double inv_std = 1.0 / sqrt((double)a->running_var[c] + (double)a->eps);
        scale_channel(a, c, a->running_mean[c], (float)((double)a->gamma[c] * inv_std),
                      a->beta[c]);
        if (a->mean) a->mean[c] = a->running_mean[c];
        if (a->inv_std) a->inv_std[c] = (float)inv_std;
    }
}

static void run_forward(batch_norm_forward_args *args, ck_range_body body) {
    ck_parallel_for(args->channels, 1,
                    ck_threads_for(args->batch * args->channels * args->pixels,
                                   CK_PARALLEL_MIN_ELEMENTS),
                    body, args);
}

void ck_batch_norm_forward_training(int64_t batch, int64_t channels, int64_t pixels,
                                    const float *x, const float *gamma, const float *beta,
                                    float eps, float momentum, float *y, float *saved_mean,
                                    float *saved_inv_std, float *running_mean,
                                    float *running_var) {
    if (batch * pixels == 0) return;
    batch_norm_forward_args args = {batch,    channels,   pixels,        x,
                                    gamma,    beta,       eps,           momentum,
                                    y,        saved_mean, saved_inv_std, running_mean,
                                    running_var};
    run_forward(&args, pixels == 1 ? batch_norm_training_columns : batch_norm_training_channels);
}

void ck_batch_norm_forward_inference(int64_t batch, int64_t channels, int64_t pixels,
                                     const float *x, const float *gamma, const float *beta,
                                     const float *running_mean, const float *running_var,
                                     float eps, float *y, float *saved_mean,
                                     float *saved_inv_std) {
    batch_norm_forward_args args = {batch,  channels,   pixels,        x,
                                    gamma,  beta,       eps,           0,
                                    y,      saved_mean, saved_inv_std, (float *)running_mean,
                                    (float *)running_var}; /* read only */
    run_forward(&args, batch_norm_inference_channels);
}

typedef struct {
    int64_t batch, channels, pixels;
    const float *x, *dy, *gamma, *mean, *inv_std;
    int batch_statistics;
    float *dx, *dgamma, *dbeta;
} batch_norm_backward_args;

/* Accumulates channel c's dgamma and dbeta from the sum of dy and that of (x - mean) * dy;
 * writes the coefficients of its dx = fs * dy + fx * (x - mean) + f0 (kx and k0 the terms of
 * the statistics' own gradients with batch statistics, 0 with fixed ones). n: the channel's
 * element count. */
static inline __attribute__((always_inline)) void channel_gradients(
    const batch_norm_backward_args *a, int64_t c, double sum_dy, double centered_dot, double n,
    float *fs, float *fx, float *f0) {
    double inv_std = a->inv_std[c];
    double sum_dy_xhat = centered_dot * inv_std;
    a->dgamma[c] += (float)sum_dy_xhat;
    a->dbeta[c] += (float)sum_dy;
    double scale = (double)a->gamma[c] * inv_std;
    double kx = a->batch_statistics ? -scale * inv_std * sum_dy_xhat / n : 0.0;
    double k0 = a->batch_statistics ? -scale * sum_dy / n : 0.0;
    *fs = (float)scale;
    *fx = (float)kx;
    *f0 = (float)k0;
}

/* Over channels: the sums of dy and dy * x_hat, then dx. */
CK_VECTORIZED static void batch_norm_backward_channels(const void *args, int64_t begin,
                                                       int64_t end) {
    const batch_norm_backward_args *a = args;
    channel_layout l = {a->batch, a->channels, a->pixels};
    double n = (double)(a->batch * a->pixels);
    for (int64_t c = begin; c < end; c++) {
        float mean = a->mean[c], fs, fx, f0;
        channel_gradients(a, c, channel_sum(l, c, a->dy),
                          channel_centered_dot(l, c, a->x, mean, a->dy, 0), n, &fs, &fx, &f0);
        if (!a->dx) continue;
        for (int64_t b = 0; b < a->batch; b++) {
            int64_t base = (b * a->channels + c) * a->pixels;
            const float *x = a->x + base, *dy = a->dy + base;
            float *dx = a->dx + base;
#pragma omp simd
            for (int64_t i = 0; i < a->pixels; i++) dx[i] = fs * dy[i] + fx * (x[i] - mean) + f0;
        }
    }
}

/* batch_norm_backward_channels for pixels == 1, COLUMN_BLOCK channels side by side (see
 * batch_norm_training_columns). */
CK_VECTORIZED static void batch_norm_backward_columns(const void *args, int64_t begin,
                                                      int64_t end) {
    const batch_norm_backward_args *a = args;
    const int64_t channels = a->channels;
    double n = (double)a->batch;
    for (int64_t c0 = begin; c0 < end; c0 += COLUMN_BLOCK) {
        const int64_t w = end - c0 < COLUMN_BLOCK ? end - c0 : COLUMN_BLOCK;
        double sum[COLUMN_BLOCK] = {0}, dot[COLUMN_BLOCK] = {0};
        float mean[COLUMN_BLOCK], fs[COLUMN_BLOCK], fx[COLUMN_BLOCK], f0[COLUMN_BLOCK];
        for (int64_t j = 0; j < w; j++) mean[j] = a->mean[c0 + j];
        for (int64_t b = 0; b < a->batch; b++) {
            const float *x = a->x + b * channels + c0, *dy = a->dy + b * channels + c0;
            for (int64_t j = 0; j < w; j++) {
                sum[j] += dy[j];
                dot[j] += ((double)x[j] - (double)mean[j]) * (double)dy[j];
            }
        }
        for (int64_t j = 0; j < w; j++)
            channel_gradients(a, c0 + j, lane_zero_total(sum[j]), lane_zero_total(dot[j]), n,
                              &fs[j], &fx[j], &f0[j]);
        if (!a->dx) continue;
        for (int64_t b = 0; b < a->batch; b++) {
            const float *x = a->x + b * channels + c0, *dy = a->dy + b * channels + c0;
            float *dx = a->dx + b * channels + c0;
            for (int64_t j = 0; j < w; j++)
                dx[j] = fs[j] * dy[j] + fx[j] * (x[j] - mean[j]) + f0[j];
        }
    }
}

void ck_batch_norm_backward(int64_t batch, int64_t channels, int64_t pixels, const float *x,
                            const float *dy, const float *gamma, const float *saved_mean,
                            const float *saved_inv_std, int batch_statistics, float *dx,
                            float *dgamma, float *dbeta) {
    if (batch * pixels == 0) return;
    batch_norm_backward_args args = {batch, channels,   pixels,        x,
                                     dy,    gamma,      saved_mean,    saved_inv_std,
                                     batch_statistics,  dx,            dgamma,
                                     dbeta};
    ck_parallel_for(channels, 1,
                    ck_threads_for(batch * channels * pixels, CK_PARALLEL_MIN_ELEMENTS),
                    pixels == 1 ? batch_norm_backward_columns : batch_norm_backward_channels,
                    &args);
}
