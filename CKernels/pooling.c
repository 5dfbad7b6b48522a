/* Max and average pooling over the planes of an NCHW tensor, forward and backward. A window
 * is clipped to the input (PyTorch's ceil_mode keeps partial windows at the right and bottom
 * edges), so one loop handles full and partial windows alike; the forward passes take a
 * row's whole windows several at a time, in vectors, and leave that loop the clipped ones
 * and the rows of fewer than 4 whole windows. Planes are independent: each kernel splits the
 * batch x channels planes between threads, and a plane's overlapping windows are summed on
 * one thread in a fixed order. */
#include "ckernels.h"
#include "threading.h"

#include <string.h>

typedef struct {
    int64_t height, width, kernel_h, kernel_w, stride_h, stride_w, out_h, out_w;
    const float *x, *dy;
    float *y, *dx;
    int64_t *argmax;
} pool_args;

static pool_args make_args(int64_t height, int64_t width, int64_t kernel_h, int64_t kernel_w,
                           int64_t stride_h, int64_t stride_w, int64_t out_h, int64_t out_w) {
    pool_args a = {height, width, kernel_h, kernel_w, stride_h, stride_w, out_h, out_w,
                   NULL, NULL, NULL, NULL, NULL};
    return a;
}

/* Window (oy, ox) covers rows [*y0, *y1) and columns [*x0, *x1): the window at
 * (oy * stride_h, ox * stride_w), clipped to the plane. */
static inline void window(const pool_args *a, int64_t oy, int64_t ox, int64_t *y0,
                          int64_t *y1, int64_t *x0, int64_t *x1) {
    *y0 = oy * a->stride_h;
    *x0 = ox * a->stride_w;
    *y1 = *y0 + a->kernel_h < a->height ? *y0 + a->kernel_h : a->height;
    *x1 = *x0 + a->kernel_w < a->width ? *x0 + a->kernel_w : a->width;
}

/* Runs body over the planes when the planes' elements pay for a parallel region. */
static void run_planes(int64_t planes, const pool_args *a, ck_range_body body) {
    int64_t elements = a->height * a->width > a->out_h * a->out_w ? a->height * a->width
                                                                    : a->out_h * a->out_w;
    ck_parallel_for(planes, 1, ck_threads_for(planes * elements, CK_PARALLEL_MIN_ELEMENTS),
                    body, a);
}

/* ---- the forward passes' whole windows, in groups -------------------------------------- */

/* The windows of an output row that lie wholly inside the plane's columns: outputs
 * [0, full_windows) (ceil_mode's last window may be clipped). */
static inline int64_t full_windows(const pool_args *a) {
    if (a->stride_w < 1 || a->width < a->kernel_w) return 0;
    const int64_t full = (a->width - a->kernel_w) / a->stride_w + 1;
    return full < a->out_w ? full : a->out_w;
}

/* Whether v replaces the maximum so far, best: the first maximum, and the first NaN wins and
 * stays (PyTorch's max_pool2d takes the last NaN instead). */
static inline int takes_max(float v, float best) { return v > best || (v != v && best == best); }

/* The poolings whose forward pass takes a row's whole windows in groups (pool_windows). */
typedef enum { POOL_MAX, POOL_AVG } pool_kind;

/* Outputs [ox0, ox0 + count) of one output row, whole windows: the windows at columns
 * ox * stride of rows [y0, y1). POOL_MAX: y[ox] the maximum and argmax[ox] its index;
 * POOL_AVG: y[ox] the mean, the sum in double from +0 divided by the window's size and
 * rounded to float once (argmax unused).
 * Each window's elements are taken in the order the clipped windows' loops take them (rows,
 * then columns), so the results are the same bits. count is a constant at each call
 * (WINDOWS_AT_ONCE or half of it), and so is kind: the maxima or sums so far are a vector of
 * registers across the windows, and the loads of a stride of 2 (2 x 2 or 3 x 3 pooling) are
 * contiguous vectors deinterleaved. */
enum { WINDOWS_AT_ONCE = 8 };
static inline __attribute__((always_inline)) void
pool_windows(const pool_kind kind, const float *restrict x, int64_t width, int64_t kernel_w,
             int64_t stride, int64_t y0, int64_t y1, int64_t ox0, const int count,
             float *restrict y, int64_t *restrict argmax) {
    float value[WINDOWS_AT_ONCE];
    double sum[WINDOWS_AT_ONCE];
    int64_t at[WINDOWS_AT_ONCE];
    for (int i = 0; i < count; i++) {
        at[i] = y0 * width + (ox0 + i) * stride;
        value[i] = kind == POOL_MAX ? x[at[i]] : 0.0f;
        sum[i] = 0.0;
    }
    for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t kx = kind == POOL_MAX && iy == y0 ? 1 : 0; kx < kernel_w; kx++) {
            const int64_t first = iy * width + kx + ox0 * stride;
            for (int i = 0; i < count; i++) {
                const float v = x[first + i * stride];
                if (kind == POOL_MAX) {
                    const int take = takes_max(v, value[i]);
                    value[i] = take ? v : value[i];
                    at[i] = take ? first + i * stride : at[i];
                } else {
                    sum[i] += (double)v;
                }
            }
        }
    for (int i = 0; i < count; i++) {
        if (kind == POOL_MAX) {
            y[ox0 + i] = value[i];
            argmax[ox0 + i] = at[i];
        } else {
            y[ox0 + i] = (float)(sum[i] / (double)((y1 - y0) * kernel_w));
        }
    }
}

/* Outputs [0, full) of one output row, all whole windows, WINDOWS_AT_ONCE at a time, or half
 * as many in a shorter row (7 windows of a 14 x 14 plane, 4 of an 8 x 8 one); the last group
 * ends at full, overlapping the one before (its windows computed again, to the same values).
 * Returns the outputs computed: full, or 0 in a row shorter than half a group. */
static inline __attribute__((always_inline)) int64_t
whole_windows(const pool_kind kind, const float *restrict x, int64_t width, int64_t kernel_w,
              int64_t stride, int64_t y0, int64_t y1, int64_t full, float *restrict y,
              int64_t *restrict argmax) {
    enum { HALF = WINDOWS_AT_ONCE / 2 };
    if (full >= WINDOWS_AT_ONCE) {
        for (int64_t ox = 0; ox < full; ox += WINDOWS_AT_ONCE)
            pool_windows(kind, x, width, kernel_w, stride, y0, y1,
                         ox + WINDOWS_AT_ONCE <= full ? ox : full - WINDOWS_AT_ONCE,
                         WINDOWS_AT_ONCE, y, argmax);
    } else if (full >= HALF) {
        for (int64_t ox = 0; ox < full; ox += HALF)
            pool_windows(kind, x, width, kernel_w, stride, y0, y1,
                         ox + HALF <= full ? ox : full - HALF, HALF, y, argmax);
    } else {
        return 0;
    }
    return full;
}

/* whole_windows of output row oy of a plane, the stride a constant where it is 2. */
static inline __attribute__((always_inline)) int64_t
row_whole_windows(const pool_kind kind, const pool_args *a, const float *x, int64_t oy,
                  int64_t full, float *y, int64_t *argmax) {
    int64_t y0, y1, x0, x1;
    window(a, oy, 0, &y0, &y1, &x0, &x1);
    return a->stride_w == 2
               ? whole_windows(kind, x, a->width, a->kernel_w, 2, y0, y1, full, y, argmax)
               : whole_windows(kind, x, a->width, a->kernel_w, a->stride_w, y0, y1, full, y,
                               argmax);
}

/* ---- max pooling ----------------------------------------------------------------------- */

CK_VECTORIZED static void max_forward_planes(const void *args, int64_t begin, int64_t end) {
    const pool_args *a = args;
    const int64_t in_size = a->height * a->width, out_size = a->out_h * a->out_w;
    const int64_t full = full_windows(a);
    for (int64_t p = begin; p < end; p++) {
        const float *x = a->x + p * in_size;
        for (int64_t oy = 0; oy < a->out_h; oy++) {
            float *y = a->y + p * out_size + oy * a->out_w;
            int64_t *argmax = a->argmax + p * out_size + oy * a->out_w;
            const int64_t done = row_whole_windows(POOL_MAX, a, x, oy, full, y, argmax);
            for (int64_t ox = done; ox < a->out_w; ox++) {
                int64_t y0, y1, x0, x1;
                window(a, oy, ox, &y0, &y1, &x0, &x1);
                int64_t best = y0 * a->width + x0;
                float best_value = x[best];
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++)
                        if (takes_max(x[iy * a->width + ix], best_value)) {
                            best = iy * a->width + ix;
                            best_value = x[best];
                        }
                y[ox] = best_value;
                argmax[ox] = best;
            }
        }
    }
}

void ck_max_pool2d_forward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                           int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t out_h,
                           int64_t out_w, const float *x, float *y, int64_t *argmax) {
    if (out_h == 0 || out_w == 0) return; /* no windows (the pointers may be NULL) */
    pool_args a = make_args(height, width, kernel_h, kernel_w, stride_h, stride_w, out_h, out_w);
    a.x = x;
    a.y = y;
    a.argmax = argmax;
    run_planes(planes, &a, max_forward_planes);
}

static void max_backward_planes(const void *args, int64_t begin, int64_t end) {
    const pool_args *a = args;
    int64_t in_size = a->height * a->width, out_size = a->out_h * a->out_w;
    for (int64_t p = begin; p < end; p++) {
        float *dx = a->dx + p * in_size;
        memset(dx, 0, (size_t)in_size * sizeof(float));
        /* Indexed from the start of dy and argmax, which may be NULL when there are no
         * windows. */
        for (int64_t o = p * out_size; o < (p + 1) * out_size; o++) dx[a->argmax[o]] += a->dy[o];
    }
}

void ck_max_pool2d_backward(int64_t planes, int64_t height, int64_t width, int64_t out_h,
                            int64_t out_w, const int64_t *argmax, const float *dy, float *dx) {
    if (height == 0 || width == 0) return; /* dx has no elements (the pointers may be NULL) */
    pool_args a = make_args(height, width, 0, 0, 0, 0, out_h, out_w);
    a.argmax = (int64_t *)argmax; /* read only */
    a.dy = dy;
    a.dx = dx;
    run_planes(planes, &a, max_backward_planes);
}

/* ---- average pooling ------------------------------------------------------------------- */

CK_VECTORIZED static void avg_forward_planes(const void *args, int64_t begin, int64_t end) {
    const pool_args *a = args;
    const int64_t in_size = a->height * a->width, out_size = a->out_h * a->out_w;
    const int64_t full = full_windows(a);
    for (int64_t p = begin; p < end; p++) {
        const float *x = a->x + p * in_size;
        for (int64_t oy = 0; oy < a->out_h; oy++) {
            float *y = a->y + p * out_size + oy * a->out_w;
            const int64_t done = row_whole_windows(POOL_AVG, a, x, oy, full, y, NULL);
            for (int64_t ox = done; ox < a->out_w; ox++) {
                int64_t y0, y1, x0, x1;
                window(a, oy, ox, &y0, &y1, &x0, &x1);
                double sum = 0.0;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) sum += (double)x[iy * a->width + ix];
                y[ox] = (float)(sum / (double)((y1 - y0) * (x1 - x0)));
            }
        }
    }
}

void ck_avg_pool2d_forward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                           int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t out_h,
                           int64_t out_w, const float *x, float *y) {
    if (out_h == 0 || out_w == 0) return; /* no windows (the pointers may be NULL) */
    pool_args a = make_args(height, width, kernel_h, kernel_w, stride_h, stride_w, out_h, out_w);
    a.x = x;
    a.y = y;
    run_planes(planes, &a, avg_forward_planes);
}

static void avg_backward_planes(const void *args, int64_t begin, int64_t end) {
    const pool_args *a = args;
    int64_t in_size = a->height * a->width, out_size = a->out_h * a->out_w;
    for (int64_t p = begin; p < end; p++) {
        float *dx = a->dx + p * in_size;
        memset(dx, 0, (size_t)in_size * sizeof(float));
        /* Indexed from the start of dy, which may be NULL when there are no windows. */
        for (int64_t oy = 0, o = p * out_size; oy < a->out_h; oy++)
        for (int64_t ox = 0; ox < a->out_w; ox++, o++) {
            int64_t y0, y1, x0, x1;
            window(a, oy, ox, &y0, &y1, &x0, &x1);
            float share = a->dy[o] / (float)((y1 - y0) * (x1 - x0));
            for (int64_t iy = y0; iy < y1; iy++)
                for (int64_t ix = x0; ix < x1; ix++) dx[iy * a->width + ix] += share;
        }
    }
}

void ck_avg_pool2d_backward(int64_t planes, int64_t height, int64_t width, int64_t kernel_h,
                            int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t out_h,
                            int64_t out_w, const float *dy, float *dx) {
    if (height == 0 || width == 0) return; /* dx has no elements (the pointers may be NULL) */
    pool_args a = make_args(height, width, kernel_h, kernel_w, stride_h, stride_w, out_h, out_w);
    a.dy = dy;
    a.dx = dx;
    run_planes(planes, &a, avg_backward_planes);
}

int64_t ck_pool2d_output_size(int64_t size, int64_t kernel, int64_t stride, int ceil_mode) {
    if (kernel < 1 || stride < 1 || size < 1) return 0;
    const int64_t span = size - kernel; /* no overflow: both are in [1, INT64_MAX] */
    if (!ceil_mode) return span < 0 ? 0 : span / stride + 1;
    /* PyTorch's floor((span + stride - 1) / stride) + 1, without the sum that could overflow:
     * for span < 0 it is 1 when span > -stride (one window, clipped to the input), else 0. */
    if (span < 0) return span > -stride ? 1 : 0;
    int64_t count = span / stride + (span % stride != 0) + 1;
    /* PyTorch: the last window must start inside the input, (count - 1) * stride < size. */
    if (count - 1 > (size - 1) / stride) count--;
    return count;
}
