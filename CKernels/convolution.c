/* Convolution helpers for im2col + GEMM over a whole batch: im2col and col2im between NCHW
 * images and a columns matrix whose columns run over (image, output pixel), and the moves
 * between the GEMM's channel-major product and NCHW (with the bias and its gradient). The
 * batch shares one columns matrix so that a convolution is one GEMM large enough to split
 * between threads, not one small GEMM per image. Each kernel is a loop over a range of
 * independent outputs (a *_range function) run by ck_parallel_for; col2im's overlapping
 * windows are summed inside one plane, on one thread, in a fixed order. */
#include "channel_sum.h"
#include "ckernels.h"
#include "relu.h"
#include "threading.h"

#include <string.h>

/* The shape of an image and of the windows slid over it. */
typedef struct {
    int64_t channels, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int64_t out_h, out_w;
} window_geometry;

static window_geometry geometry(int64_t channels, int64_t height, int64_t width,
                                int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
                                int64_t stride_w, int64_t pad_h, int64_t pad_w) {
    window_geometry g = {channels, height, width, kernel_h, kernel_w, stride_h, stride_w,
                         pad_h, pad_w,
                         ck_conv2d_output_size(height, kernel_h, stride_h, pad_h),
                         ck_conv2d_output_size(width, kernel_w, stride_w, pad_w)};
    return g;
}

int64_t ck_conv2d_output_size(int64_t size, int64_t kernel, int64_t stride, int64_t pad) {
    int64_t span = size + 2 * pad - kernel;
    return span < 0 || stride < 1 ? 0 : span / stride + 1;
}

/* The outputs [*first, *last) of `out` along one dimension whose input position
 * o * stride + offset lies inside 0..<size; the others read (im2col) or receive (col2im)
 * padding. */
static void inside_span(int64_t size, int64_t out, int64_t stride, int64_t offset,
                        int64_t *first, int64_t *last) {
    int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t hi = size - offset <= 0 ? 0 : (size - offset - 1) / stride + 1;
    if (hi > out) hi = out;
    if (lo > hi) lo = hi;
    *first = lo;
    *last = hi;
}

/* Window offset (ky, kx) of a geometry: output (oy, ox) reads the plane at row
 * oy * stride_h + dy and column ox * stride_w + dx, inside it for the outputs [y_first,
 * y_last) x [x_first, x_last) (an empty rectangle when either span is empty). */
typedef struct {
    int64_t dy, dx;
    int64_t y_first, y_last, x_first, x_last;
} window_offset;

static window_offset offset_of(const window_geometry *g, int64_t ky, int64_t kx) {
    window_offset o = {ky - g->pad_h, kx - g->pad_w, 0, 0, 0, 0};
    inside_span(g->height, g->out_h, g->stride_h, o.dy, &o.y_first, &o.y_last);
    inside_span(g->width, g->out_w, g->stride_w, o.dx, &o.x_first, &o.x_last);
    if (o.x_first == o.x_last) o.y_last = o.y_first;
    return o;
}

/* Whether the windows go in flat form: strides 1 and output rows as wide as the plane's
 * (padding that keeps the width, as 3x3 with padding 1), so that an offset's output pixel
 * j = oy * width + ox reads plane pixel j + dy * width + dx. Its inside rectangle is then one
 * contiguous run of both, [y_first * width + x_first, (y_last - 1) * width + x_last), but
 * for the outputs in that run outside [x_first, x_last) of their row, whose plane pixel is
 * in the neighbouring row instead of the padding. */
static int is_flat(const window_geometry *g) {
    return g->stride_h == 1 && g->stride_w == 1 && g->out_w == g->width;
}

/* The most flags of the per-offset tables that im2col (inside masks) and col2im (what each
 * plane pixel receives) keep on the stack, a byte a pixel and window offset: small flat
 * planes go through them, where the pixels' per-offset runs, zeros and columns are a few
 * floats each and one pass over all the pixels, each read where its flag says, costs less. */
enum { OFFSET_TABLE_MAX_FLAGS = 16384 };

/* Whether im2col takes a geometry's windows through inside masks (mark_inside), one per
 * offset, out_h * out_w flags each. */
static int is_masked(const window_geometry *g) {
    const int64_t pixels = g->out_h * g->out_w;
    return is_flat(g) && pixels > 0
        && g->kernel_h * g->kernel_w <= OFFSET_TABLE_MAX_FLAGS / pixels;
}

/* A table of `count` flags, rows `width` wide, all 0 but for offset o's inside rectangle (flat
 * form): 1 for each output pixel (oy, ox) that reads a pixel of the plane, at row oy + dy and
 * column ox + dx of the table. With dy = dx = 0 it is im2col's inside mask, indexed by output
 * pixel; with o's own dy and dx, col2im's table of the plane pixels that receive an element
 * of offset o (plane pixel i receives output pixel i - dy * width - dx). */
static void mark_inside(const window_geometry *g, const window_offset *o, int64_t dy, int64_t dx,
                        int64_t count, uint8_t *table) {
    memset(table, 0, (size_t)count);
    for (int64_t oy = o->y_first; oy < o->y_last; oy++)
        memset(table + (oy + dy) * g->width + o->x_first + dx, 1, (size_t)(o->x_last - o->x_first));
}

/* Sets the outputs of rows [y_first, y_last) outside [x_first, x_last) to zero: a few
 * pixels a row, written column by column (a strided loop, rather than a call to memset for
 * each handful of floats). */
static void zero_outside_columns(const window_geometry *g, const window_offset *o,
                                 float *pixels) {
    for (int64_t ox = 0; ox < g->out_w; ox++) {
        if (ox == o->x_first) ox = o->x_last;
        if (ox == g->out_w) break;
        for (int64_t oy = o->y_first; oy < o->y_last; oy++) pixels[oy * g->out_w + ox] = 0.0f;
    }
}

/* ---- im2col: the (row, image) pieces of the columns matrix are independent -------------- */

typedef struct {
    window_geometry g;
    int64_t batch;
    const float *images;
    float *columns;
} im2col_args;

/* The out_h x out_w pixels that offset o reads from one plane, zeros in the padding; with
 * `inside` (is_masked), in one pass that reads only the pixels it marks. */
static inline __attribute__((always_inline)) void
gather_window(const window_geometry *g, const window_offset *o, const uint8_t *inside,
              const float *plane, float *pixels) {
    const int64_t out_w = g->out_w, out_h = g->out_h, w = g->width;
    if (inside) {
        const int64_t shift = o->dy * w + o->dx;
#pragma omp simd
        for (int64_t j = 0; j < out_h * out_w; j++) pixels[j] = inside[j] ? plane[j + shift] : 0.0f;
        return;
    }
    for (int64_t j = 0; j < o->y_first * out_w; j++) pixels[j] = 0.0f;
    for (int64_t j = o->y_last * out_w; j < out_h * out_w; j++) pixels[j] = 0.0f;
    if (o->y_first == o->y_last) return;
    if (is_flat(g)) {
        const int64_t shift = o->dy * w + o->dx;
        const int64_t first = o->y_first * w + o->x_first, last = (o->y_last - 1) * w + o->x_last;
        for (int64_t j = first; j < last; j++) pixels[j] = plane[j + shift];
        zero_outside_columns(g, o, pixels);
        return;
    }
    zero_outside_columns(g, o, pixels);
    for (int64_t oy = o->y_first; oy < o->y_last; oy++) {
        const float *source = plane + (oy * g->stride_h + o->dy) * w;
        float *row = pixels + oy * out_w;
        for (int64_t ox = o->x_first; ox < o->x_last; ox++)
            row[ox] = source[ox * g->stride_w + o->dx];
    }
}

/* Pieces q = row * batch + b, [begin, end): each the out_h * out_w pixels of one row (channel
 * c, offset ky, kx) of the columns matrix for image b. Compiled per instruction set with
 * gather_window inlined: a call per piece costs as much as a small image's copy (64 pixels
 * of an 8 x 8 one). */
CK_VECTORIZED static void im2col_range(const void *args, int64_t begin, int64_t end) {
    const im2col_args *a = args;
    const window_geometry *g = &a->g;
    const int64_t window = g->kernel_h * g->kernel_w, plane = g->height * g->width;
    const int64_t pixels = g->out_h * g->out_w;
    uint8_t masks[OFFSET_TABLE_MAX_FLAGS];
    const int masked = is_masked(g);
    for (int64_t k = 0; masked && k < window; k++) {
        const window_offset o = offset_of(g, k / g->kernel_w, k % g->kernel_w);
        mark_inside(g, &o, 0, 0, pixels, masks + k * pixels);
    }
    for (int64_t first = begin, last; first < end; first = last) {
        /* The range's pieces of one row (channel c, offset k), images b = q - row * batch. */
        const int64_t row = first / a->batch, k = row % window;
        last = (row + 1) * a->batch < end ? (row + 1) * a->batch : end;
        const window_offset o = offset_of(g, k / g->kernel_w, k % g->kernel_w);
        const uint8_t *inside = masked ? masks + k * pixels : NULL;
        const float *channel_plane = a->images + row / window * plane;
        for (int64_t q = first; q < last; q++)
            gather_window(g, &o, inside, channel_plane + (q - row * a->batch) * g->channels * plane,
                          a->columns + q * pixels);
    }
}

void ck_im2col(int64_t batch, int64_t channels, int64_t height, int64_t width,
               int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               int64_t pad_h, int64_t pad_w, const float *images, float *columns) {
    im2col_args args = {geometry(channels, height, width, kernel_h, kernel_w, stride_h,
                                 stride_w, pad_h, pad_w),
                        batch, images, columns};
    int64_t pieces = channels * kernel_h * kernel_w * batch;
    int64_t pixels = args.g.out_h * args.g.out_w;
    if (pieces == 0 || pixels == 0) return;
    ck_parallel_for(pieces, 1, ck_threads_for(pieces * pixels, CK_PARALLEL_MIN_ELEMENTS),
                    im2col_range, &args);
}

/* ---- col2im: planes are independent; each sums its windows in (ky, kx, oy, ox) order ---- */

typedef struct {
    window_geometry g;
    int64_t batch;
    float *columns;
    float *images;
} col2im_args;

/* Adds the out_h x out_w pixels of offset o into one plane, dropping the padding. In flat
 * form the pixels outside the inside columns are set to zero first, so that the one run adds
 * zeros to the neighbouring rows' pixels: their sums, started at +0 and so never -0, keep
 * their bits (the same bits as not adding them). */
static inline __attribute__((always_inline)) void
scatter_window(const window_geometry *g, const window_offset *o, float *pixels, float *plane) {
    const int64_t w = g->width;
    if (o->y_first == o->y_last) return;
    if (is_flat(g)) {
        zero_outside_columns(g, o, pixels);
        const int64_t shift = o->dy * w + o->dx;
        const int64_t first = o->y_first * w + o->x_first, last = (o->y_last - 1) * w + o->x_last;
#pragma omp simd
        for (int64_t j = first; j < last; j++) plane[j + shift] += pixels[j];
        return;
    }
    for (int64_t oy = o->y_first; oy < o->y_last; oy++) {
        const float *row = pixels + oy * g->out_w;
        float *target = plane + (oy * g->stride_h + o->dy) * w;
#pragma omp simd
        for (int64_t ox = o->x_first; ox < o->x_last; ox++)
            target[ox * g->stride_w + o->dx] += row[ox];
    }
}

/* Whether col2im sums the planes of a geometry pixel by pixel (sum_planes_by_pixel), with a
 * table of which offsets each plane pixel receives (receives_table). */
static int sums_by_pixel(const window_geometry *g) {
    const int64_t plane = g->height * g->width;
    return is_flat(g) && plane > 0
        && g->kernel_h * g->kernel_w <= OFFSET_TABLE_MAX_FLAGS / plane;
}

/* receives[k * plane + i] = 1 where plane pixel i receives an element of offset k = (ky, kx),
 * else 0 (mark_inside at the offset's own dy, dx). */
static void receives_table(const window_geometry *g, uint8_t *receives) {
    const int64_t window = g->kernel_h * g->kernel_w, plane = g->height * g->width;
    for (int64_t k = 0; k < window; k++) {
        const window_offset o = offset_of(g, k / g->kernel_w, k % g->kernel_w);
        mark_inside(g, &o, o.dy, o.dx, plane, receives + k * plane);
    }
}

/* Planes q = c * batch + b, [begin, end), each from +0 plus, offset by offset in order, the
 * element of offset k that each pixel receives (column pixel i - shift_k; +0 where it receives
 * none, which leaves the sum's bits as they are: started at +0, it is never -0). Each plane
 * (at most OFFSET_TABLE_MAX_FLAGS / window pixels) is summed in place, read and written once per
 * offset without masked stores. */
static inline __attribute__((always_inline)) void
sum_planes_by_pixel(const col2im_args *a, const uint8_t *receives, int64_t begin, int64_t end) {
    const window_geometry *g = &a->g;
    const int64_t window = g->kernel_h * g->kernel_w, plane = g->height * g->width;
    const int64_t pixels = g->out_h * g->out_w;
    for (int64_t c = begin / a->batch, b = begin % a->batch, q = begin; q < end; q++) {
        float *target = a->images + (b * g->channels + c) * plane;
        for (int64_t i = 0; i < plane; i++) target[i] = 0.0f;
        for (int64_t k = 0; k < window; k++) {
            const int64_t shift = (k / g->kernel_w - g->pad_h) * g->width
                                  + k % g->kernel_w - g->pad_w;
            const uint8_t *from = receives + k * plane;
            /* columns[(c * window + k) * batch + b] holds offset k of plane (b, c). */
            const float *column = a->columns + ((c * window + k) * a->batch + b) * pixels;
#pragma omp simd
            for (int64_t i = 0; i < plane; i++) target[i] += from[i] ? column[i - shift] : 0.0f;
        }
        if (++b == a->batch) {
            b = 0;
            c++;
        }
    }
}

/* Planes q = c * batch + b, [begin, end): plane c of image b, zeroed, then each window
 * offset added in turn. Small flat planes are summed pixel by pixel (sum_planes_by_pixel);
 * the others channel by channel: for each offset k, the planes of channel c in the range take
 * rows (c, k) of the columns, so the columns are read in their order, once, and a channel's
 * planes (one per image) are summed while they stay in cache. Each offset's span is computed
 * once a channel; a plane receives its offsets in order. scatter_window is inlined, as
 * gather_window is into im2col_range. */
CK_VECTORIZED static void col2im_range(const void *args, int64_t begin, int64_t end) {
    const col2im_args *a = args;
    const window_geometry *g = &a->g;
    const int64_t window = g->kernel_h * g->kernel_w, plane = g->height * g->width;
    const int64_t pixels = g->out_h * g->out_w;
    if (sums_by_pixel(g)) {
        uint8_t receives[OFFSET_TABLE_MAX_FLAGS];
        receives_table(g, receives);
        sum_planes_by_pixel(a, receives, begin, end);
        return;
    }
    for (int64_t first = begin, last; first < end; first = last) {
        const int64_t c = first / a->batch;
        last = (c + 1) * a->batch < end ? (c + 1) * a->batch : end;
        for (int64_t b = first - c * a->batch; b < last - c * a->batch; b++)
            memset(a->images + (b * g->channels + c) * plane, 0, (size_t)plane * sizeof(float));
        for (int64_t k = 0; k < window; k++) {
            const window_offset o = offset_of(g, k / g->kernel_w, k % g->kernel_w);
            /* columns[(c * window + k) * batch + b] holds offset k of plane (b, c). */
            float *rows = a->columns + (c * window + k) * a->batch * pixels;
            for (int64_t b = first - c * a->batch; b < last - c * a->batch; b++)
                scatter_window(g, &o, rows + b * pixels,
                               a->images + (b * g->channels + c) * plane);
        }
    }
}

void ck_col2im(int64_t batch, int64_t channels, int64_t height, int64_t width,
               int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               int64_t pad_h, int64_t pad_w, float *columns, float *images) {
    col2im_args args = {geometry(channels, height, width, kernel_h, kernel_w, stride_h,
                                 stride_w, pad_h, pad_w),
                        batch, columns, images};
    const int64_t planes = batch * channels, plane = height * width;
    const int64_t pixels = args.g.out_h * args.g.out_w;
    if (planes == 0 || plane == 0) return;
    if (pixels == 0) { /* no columns (they may be NULL): each pixel is a sum of nothing */
        memset(images, 0, (size_t)(planes * plane) * sizeof(float));
        return;
    }
    int64_t work = planes * kernel_h * kernel_w * pixels;
    if (work < planes * plane) work = planes * plane;
    ck_parallel_for(planes, 1, ck_threads_for(work, CK_PARALLEL_MIN_ELEMENTS), col2im_range,
                    &args);
}

/* ---- between the channel-major product and NCHW --------------------------------------- */

typedef struct {
    int64_t batch, channels, pixels;
    const float *source, *bias, *relu_y;
    int relu;
    float *target, *bias_gradient;
} channel_move_args;

/* Over planes p = b * channels + c of y: y[b][c] = z[c][b] + bias[c], then the ReLU if asked
 * for (relu_value, as ck_relu_forward). */
CK_VECTORIZED static void output_planes(const void *args, int64_t begin, int64_t end) {
    const channel_move_args *a = args;
    for (int64_t p = begin; p < end; p++) {
        int64_t b = p / a->channels, c = p % a->channels;
        const float *z = a->source + (c * a->batch + b) * a->pixels;
        float *y = a->target + p * a->pixels, bias = a->bias ? a->bias[c] : 0.0f;
#pragma omp simd
        for (int64_t i = 0; i < a->pixels; i++)
            y[i] = a->relu ? relu_value(z[i] + bias) : z[i] + bias;
    }
}

void ck_conv2d_output(int64_t batch, int64_t channels, int64_t pixels, const float *z,
                      const float *bias, int relu, float *y) {
    if (pixels == 0) return; /* nothing to move (z and y may be NULL) */
    channel_move_args args = {batch, channels, pixels, z, bias, NULL, relu, y, NULL};
    int64_t planes = batch * channels;
    ck_parallel_for(planes, 1, ck_threads_for(planes * pixels, CK_PARALLEL_MIN_ELEMENTS),
                    output_planes, &args);
}

/* Over channels c: dz[c][b] = dy[b][c] for each b (where relu_y[b][c] > 0, else 0, when
 * relu_y is given), and the sum of dz[c] (channel_sum over its batch planes, in the order it
 * sums dy[., c]) added to dbias[c]. */
CK_VECTORIZED static void output_gradient_channels(const void *args, int64_t begin,
                                                   int64_t end) {
    const channel_move_args *a = args;
    for (int64_t c = begin; c < end; c++) {
        float *dz = a->target + c * a->batch * a->pixels;
        for (int64_t b = 0; b < a->batch; b++) {
            const int64_t plane = (b * a->channels + c) * a->pixels;
            const float *dy = a->source + plane;
            float *target = dz + b * a->pixels;
            if (a->relu_y) {
                const float *y = a->relu_y + plane;
#pragma omp simd
                for (int64_t i = 0; i < a->pixels; i++) target[i] = relu_gradient(y[i], dy[i]);
            } else {
                memcpy(target, dy, (size_t)a->pixels * sizeof(float));
            }
        }
        if (a->bias_gradient) {
            const channel_layout planes = {a->batch, 1, a->pixels};
            a->bias_gradient[c] += (float)channel_sum(planes, 0, dz);
        }
    }
}

void ck_conv2d_output_gradient(int64_t batch, int64_t channels, int64_t pixels, const float *dy,
                               const float *relu_y, float *dz, float *dbias) {
    if (batch == 0 || pixels == 0) return; /* nothing to move or add (dy, dz may be NULL) */
    channel_move_args args = {batch, channels, pixels, dy, NULL, relu_y, 0, dz, dbias};
    ck_parallel_for(channels, 1,
                    ck_threads_for(batch * channels * pixels, CK_PARALLEL_MIN_ELEMENTS),
                    output_gradient_channels, &args);
}
