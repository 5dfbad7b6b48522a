/* Convolution helpers: im2col and col2im (which turn a convolution into one GEMM per image),
 * and the per-channel bias add and gradient of an NCHW tensor. Each is a loop over a range of
 * independent outputs (a *_range function) run by ck_parallel_for; col2im's overlapping
 * windows are summed inside one channel, on one thread, in a fixed order. */
#include "ckernels.h"
#include "threading.h"

#include <string.h>

/* The shape of an image and of the windows slid over it. */
typedef struct {
    int64_t height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w;
} window_geometry;

static window_geometry geometry(int64_t height, int64_t width, int64_t kernel_h,
                                int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                                int64_t pad_h, int64_t pad_w) {
    window_geometry g = {height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                         ck_conv2d_output_size(height, kernel_h, stride_h, pad_h),
                         ck_conv2d_output_size(width, kernel_w, stride_w, pad_w)};
    return g;
}

int64_t ck_conv2d_output_size(int64_t size, int64_t kernel, int64_t stride, int64_t pad) {
    int64_t span = size + 2 * pad - kernel;
    return span < 0 || stride < 1 ? 0 : span / stride + 1;
}

/* The output columns [first, last) of output row oy whose input column ox * stride - pad + kx
 * lies inside 0..<width; the others read (im2col) or receive (col2im) padding. */
static void valid_columns(const window_geometry *g, int64_t kx, int64_t *first, int64_t *last) {
    int64_t offset = kx - g->pad_w; /* input column of output column 0 */
    int64_t lo = offset >= 0 ? 0 : (-offset + g->stride_w - 1) / g->stride_w;
    int64_t hi = g->width - offset <= 0 ? 0 : (g->width - offset - 1) / g->stride_w + 1;
    if (hi > g->out_w) hi = g->out_w;
    if (lo > hi) lo = hi;
    *first = lo;
    *last = hi;
}

/* Copies between one row of the columns matrix, window offset (ky, kx), and its channel's
 * plane: im2col (gather != 0) writes every element of the row, zeros for the padding; col2im
 * (gather == 0) adds the row into the plane in (oy, ox) order and drops the padding. */
CK_VECTORIZED static void transfer_row(const window_geometry *g, int64_t ky, int64_t kx,
                                       float *row, float *plane, int gather) {
    int64_t first, last;
    valid_columns(g, kx, &first, &last);
    for (int64_t oy = 0; oy < g->out_h; oy++) {
        float *cols = row + oy * g->out_w;
        int64_t iy = oy * g->stride_h - g->pad_h + ky;
        int inside = iy >= 0 && iy < g->height;
        if (gather && !inside) {
            memset(cols, 0, (size_t)g->out_w * sizeof(float));
            continue;
        }
        if (!inside) continue;
        float *pixels = plane + iy * g->width + kx - g->pad_w;
        int64_t s = g->stride_w;
        if (gather) {
            for (int64_t ox = 0; ox < first; ox++) cols[ox] = 0.0f;
            if (s == 1)
                memcpy(cols + first, pixels + first, (size_t)(last - first) * sizeof(float));
            else
                for (int64_t ox = first; ox < last; ox++) cols[ox] = pixels[ox * s];
            for (int64_t ox = last; ox < g->out_w; ox++) cols[ox] = 0.0f;
        } else {
#pragma omp simd
            for (int64_t ox = first; ox < last; ox++) pixels[ox * s] += cols[ox];
        }
    }
}

/* ---- im2col: rows of the columns matrix are independent -------------------------------- */

typedef struct {
    window_geometry g;
    const float *image;
    float *columns;
} im2col_args;

static void im2col_rows(const void *args, int64_t begin, int64_t end) {
    const im2col_args *a = args;
    const window_geometry *g = &a->g;
    int64_t window = g->kernel_h * g->kernel_w;
    for (int64_t r = begin; r < end; r++) {
        float *plane = (float *)a->image + r / window * g->height * g->width; /* read only */
        transfer_row(g, r % window / g->kernel_w, r % g->kernel_w,
                     a->columns + r * g->out_h * g->out_w, plane, 1);
    }
}

void ck_im2col(int64_t channels, int64_t height, int64_t width, int64_t kernel_h,
               int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
               int64_t pad_w, const float *image, float *columns) {
    im2col_args args = {geometry(height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                                 pad_w),
                        image, columns};
    int64_t rows = channels * kernel_h * kernel_w, pixels = args.g.out_h * args.g.out_w;
    if (rows == 0 || pixels == 0) return;
    ck_parallel_for(rows, 1, ck_threads_for(rows * pixels, CK_PARALLEL_MIN_ELEMENTS),
                    im2col_rows, &args);
}

/* ---- col2im: channels are independent; each sums its windows in (ky, kx, oy, ox) order -- */

typedef struct {
    window_geometry g;
    const float *columns;
    float *image;
} col2im_args;

static void col2im_channels(const void *args, int64_t begin, int64_t end) {
    const col2im_args *a = args;
    const window_geometry *g = &a->g;
    int64_t window = g->kernel_h * g->kernel_w;
    for (int64_t c = begin; c < end; c++) {
        float *plane = a->image + c * g->height * g->width;
        memset(plane, 0, (size_t)(g->height * g->width) * sizeof(float));
        for (int64_t k = 0; k < window; k++) {
            float *row = (float *)a->columns + (c * window + k) * g->out_h * g->out_w; /* read */
            transfer_row(g, k / g->kernel_w, k % g->kernel_w, row, plane, 0);
        }
    }
}

void ck_col2im(int64_t channels, int64_t height, int64_t width, int64_t kernel_h,
               int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
               int64_t pad_w, const float *columns, float *image) {
    col2im_args args = {geometry(height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                                 pad_w),
                        columns, image};
    int64_t work = channels * kernel_h * kernel_w * args.g.out_h * args.g.out_w;
    if (work < channels * height * width) work = channels * height * width;
    ck_parallel_for(channels, 1, ck_threads_for(work, CK_PARALLEL_MIN_ELEMENTS),
                    col2im_channels, &args);
}

/* ---- per-channel bias of an NCHW tensor ------------------------------------------------ */

typedef struct {
    int64_t channels, pixels;
    float *x;
    const float *bias;
} channel_bias_add_args;

/* Over planes p = b * channels + c. */
CK_VECTORIZED static void channel_bias_add_planes(const void *args, int64_t begin, int64_t end) {
    const channel_bias_add_args *a = args;
    for (int64_t p = begin; p < end; p++) {
        float *plane = a->x + p * a->pixels, b = a->bias[p % a->channels];
#pragma omp simd
        for (int64_t i = 0; i < a->pixels; i++) plane[i] += b;
    }
}

void ck_channel_bias_add(int64_t batch, int64_t channels, int64_t pixels, float *x,
                         const float *bias) {
    channel_bias_add_args args = {channels, pixels, x, bias};
    int64_t planes = batch * channels;
    ck_parallel_for(planes, 1, ck_threads_for(planes * pixels, CK_PARALLEL_MIN_ELEMENTS),
                    channel_bias_add_planes, &args);
}

typedef struct {
    int64_t batch, channels, pixels;
    const float *dy;
    float *dbias;
} channel_bias_grad_args;

/* Over channels: each sums its planes in batch order, each plane in pixel order, in one
 * double chain. */
static void channel_bias_grad_channels(const void *args, int64_t begin, int64_t end) {
    const channel_bias_grad_args *a = args;
    for (int64_t c = begin; c < end; c++) {
        double sum = 0.0;
        for (int64_t b = 0; b < a->batch; b++) {
            const float *plane = a->dy + (b * a->channels + c) * a->pixels;
            for (int64_t i = 0; i < a->pixels; i++) sum += plane[i];
        }
        a->dbias[c] += (float)sum;
    }
}

void ck_channel_bias_grad(int64_t batch, int64_t channels, int64_t pixels, const float *dy,
                          float *dbias) {
    channel_bias_grad_args args = {batch, channels, pixels, dy, dbias};
    ck_parallel_for(channels, 1,
                    ck_threads_for(batch * channels * pixels, CK_PARALLEL_MIN_ELEMENTS),
                    channel_bias_grad_channels, &args);
}
