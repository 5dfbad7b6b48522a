/* im2row and row2im: a convolution's windows in the channel-last layout, one row of the rows
 * matrix per output pixel, its window's pixels in (ky, kx) order with each pixel's channels
 * side by side. Each image is first copied, channels last, into a zero-padded plane (a
 * thread's scratch): a window's row is then a few contiguous runs of that plane, kernel_w *
 * channels floats for each ky at stride 1, and neither the copy nor the fold tests for the
 * padding. The GEMMs of a convolution's backward pass read and write these rows as stored,
 * dW = dZ · rows and d(rows) = dZᵀ · W (W's columns in the rows' order): no transposed copy of
 * the rows, as dZ · colsᵀ needs of ck_im2col's columns. The transposes between channels first
 * and last are exact copies. Images are independent, each on one thread, summed in a fixed
 * order (row2im). */
#include "ckernels.h"
#include "scratch.h"
#include "threading.h"
#include "transpose_block.h"

#include <string.h>


/* A batch's images and the windows slid over them. */
typedef struct {
    int64_t channels, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int64_t out_h, out_w;
    int accumulate; /* row2im: images += the sums */
    const float *images, *rows;
    float *images_out, *rows_out;
} rows_args;

/* The zero-padded, channel-last copy of one image, and its unpadded one (which the transpose
 * writes or reads in whole 16 x 16 blocks, rather than a row of a few pixels at a time), per
 * thread. */
static _Thread_local ck_scratch padded_image, channels_last_image;
/* row2im's sums in the image's order, to add to it, per thread. */
static _Thread_local ck_scratch summed_image;

/* The padded plane's width and its floats: (height + 2 pad_h) x (width + 2 pad_w) pixels of
 * `channels` floats. */
static int64_t padded_width(const rows_args *a) { return a->width + 2 * a->pad_w; }

static int64_t padded_floats(const rows_args *a) {
    return (a->height + 2 * a->pad_h) * padded_width(a) * a->channels;
}

/* The float of the padded plane where row (oy, ox)'s window offset (ky, kx) starts. */
static int64_t window_start(const rows_args *a, int64_t oy, int64_t ox, int64_t ky,
                            int64_t kx) {
    return ((oy * a->stride_h + ky) * padded_width(a) + ox * a->stride_w + kx) * a->channels;
}

/* The floats a window offset (ky, kx..) takes from the plane in one contiguous run: at
 * stride 1 the whole kernel row (its pixels are neighbours), else one pixel. */
static int64_t run_pixels(const rows_args *a) { return a->stride_w == 1 ? a->kernel_w : 1; }

/* Asks for the cache lines of part `part` of `parts` of the `floats` floats at `image`, for
 * writing when `write`: a part for each row made or summed, im2row's next image and row2im's
 * own, which the transposes read from or write to memory and would otherwise stall on. */
static inline void prefetch_part(const float *image, int64_t floats, int64_t part, int64_t parts,
                                 int write) {
    enum { LINE_FLOATS = 16 };
    const int64_t lines = (floats + LINE_FLOATS - 1) / LINE_FLOATS;
    for (int64_t line = lines * part / parts; line < lines * (part + 1) / parts; line++) {
        if (write) __builtin_prefetch(image + line * LINE_FLOATS, 1);
        else __builtin_prefetch(image + line * LINE_FLOATS, 0);
    }
}

/* The rows of one image (out_h * out_w of them, kernel_h * kernel_w * channels floats each)
 * and its padded plane, run by run in row order, then (ky, kx) order: each run copied from the
 * plane to its row of rows_out, or when rows_in is given, the run of its row added into the
 * plane. With each row, a part of `ahead` (NULL: none) is asked for (prefetch_part), for
 * writing when adding. */
static inline __attribute__((always_inline)) void
move_runs(const rows_args *a, float *plane, float *rows_out, const float *rows_in,
          const float *ahead) {
    const int64_t c_count = a->channels, image_floats = c_count * a->height * a->width;
    const int64_t row_floats = a->kernel_h * a->kernel_w * c_count, pixels = a->out_h * a->out_w;
    const int64_t step = run_pixels(a), run = step * c_count;
    for (int64_t oy = 0, row = 0; oy < a->out_h; oy++)
        for (int64_t ox = 0; ox < a->out_w; ox++, row += row_floats) {
            if (ahead)
                prefetch_part(ahead, image_floats, oy * a->out_w + ox, pixels, rows_in != NULL);
            for (int64_t ky = 0; ky < a->kernel_h; ky++)
                for (int64_t kx = 0; kx < a->kernel_w; kx += step) {
                    float *in_plane = plane + window_start(a, oy, ox, ky, kx);
                    const int64_t in_row = row + (ky * a->kernel_w + kx) * c_count;
                    if (rows_in) {
#pragma omp simd
                        for (int64_t i = 0; i < run; i++) in_plane[i] += rows_in[in_row + i];
                    } else {
#pragma omp simd
                        for (int64_t i = 0; i < run; i++) rows_out[in_row + i] = in_plane[i];
                    }
                }
        }
}

/* The floats of one image, and of its rows. */
static int64_t image_floats(const rows_args *a) { return a->channels * a->height * a->width; }

static int64_t image_rows_floats(const rows_args *a) {
    return a->out_h * a->out_w * a->kernel_h * a->kernel_w * a->channels;
}

/* Between an image channels last (`dense`, height * width pixels of channels floats) and the
 * inside of the padded plane, row by row: into the plane, or out of it with `out`. */
static void copy_inside(const rows_args *a, float *plane, float *dense, int out) {
    const int64_t row_floats = a->width * a->channels;
    for (int64_t y = 0; y < a->height; y++) {
        float *inside = plane + ((y + a->pad_h) * padded_width(a) + a->pad_w) * a->channels;
        if (out) memcpy(dense + y * row_floats, inside, (size_t)row_floats * sizeof(float));
        else memcpy(inside, dense + y * row_floats, (size_t)row_floats * sizeof(float));
    }
}

/* Images [begin, end): each copied into the padded plane (transposed into `dense`, then into
 * the plane's inside), then its rows copied out of it. */
CK_VECTORIZED static void im2row_range(const void *args, int64_t begin, int64_t end) {
    const rows_args *a = args;
    const int64_t pixels = a->height * a->width;
    float *plane = ck_scratch_get(&padded_image, (size_t)padded_floats(a));
    float *dense = ck_scratch_get(&channels_last_image, (size_t)image_floats(a));
    memset(plane, 0, (size_t)padded_floats(a) * sizeof(float));
    for (int64_t b = begin; b < end; b++) {
        const float *image = a->images + b * image_floats(a);
        ck_transpose_block(a->channels, pixels, image, pixels, dense, a->channels);
        copy_inside(a, plane, dense, 0);
        move_runs(a, plane, a->rows_out + b * image_rows_floats(a), NULL,
                  b + 1 < end ? image + image_floats(a) : NULL);
    }
}

/* Images [begin, end): the padded plane zeroed, each row's runs added into it, then its inside
 * copied out into `dense` and transposed to the image, channels first (or, with accumulate,
 * into the scratch `transposed` and then added to the image). */
CK_VECTORIZED static void row2im_range(const void *args, int64_t begin, int64_t end) {
    const rows_args *a = args;
    const int64_t pixels = a->height * a->width, floats = image_floats(a);
    float *plane = ck_scratch_get(&padded_image, (size_t)padded_floats(a));
    float *dense = ck_scratch_get(&channels_last_image, (size_t)floats);
    float *transposed = a->accumulate ? ck_scratch_get(&summed_image, (size_t)floats) : NULL;
    for (int64_t b = begin; b < end; b++) {
        float *image = a->images_out + b * floats;
        memset(plane, 0, (size_t)padded_floats(a) * sizeof(float));
        move_runs(a, plane, NULL, a->rows + b * image_rows_floats(a), image);
        copy_inside(a, plane, dense, 1);
        if (!a->accumulate) {
            ck_transpose_block(pixels, a->channels, dense, a->channels, image, pixels);
            continue;
        }
        ck_transpose_block(pixels, a->channels, dense, a->channels, transposed, pixels);
#pragma omp simd
        for (int64_t i = 0; i < floats; i++) image[i] += transposed[i];
    }
}

/* The arguments of a batch's im2row or row2im, and whether it has work: images with pixels
 * and windows. */
static int rows_of(int64_t channels, int64_t height, int64_t width, int64_t kernel_h,
                   int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                   int64_t pad_w, rows_args *a) {
    *a = (rows_args){channels, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h,
                     pad_w, ck_conv2d_output_size(height, kernel_h, stride_h, pad_h),
                     ck_conv2d_output_size(width, kernel_w, stride_w, pad_w),
                     0, NULL, NULL, NULL, NULL};
    return channels > 0 && height > 0 && width > 0 && a->out_h > 0 && a->out_w > 0;
}

/* Runs one of the kernels over the batch, images split between the threads. */
static void run_images(int64_t batch, const rows_args *a,
                       void (*range)(const void *, int64_t, int64_t)) {
    const int64_t work = batch * (a->out_h * a->out_w * a->kernel_h * a->kernel_w
                                  + a->height * a->width) * a->channels;
    ck_parallel_for(batch, 1, ck_threads_for(work, CK_PARALLEL_MIN_ELEMENTS), range, a);
}

void ck_im2row(int64_t batch, int64_t channels, int64_t height, int64_t width,
               int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               int64_t pad_h, int64_t pad_w, const float *images, float *rows) {
    rows_args a;
    if (batch <= 0 || !rows_of(channels, height, width, kernel_h, kernel_w, stride_h, stride_w,
                               pad_h, pad_w, &a))
        return;
    a.images = images;
    a.rows_out = rows;
    run_images(batch, &a, im2row_range);
}

void ck_row2im(int64_t batch, int64_t channels, int64_t height, int64_t width,
               int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               int64_t pad_h, int64_t pad_w, const float *rows, int accumulate, float *images) {
    rows_args a;
    if (batch <= 0 || channels <= 0 || height <= 0 || width <= 0) return;
    if (!rows_of(channels, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w,
                 &a)) { /* no windows (rows may be NULL): each pixel is a sum of nothing */
        if (!accumulate)
            memset(images, 0, (size_t)(batch * channels * height * width) * sizeof(float));
        return;
    }
    a.accumulate = accumulate;
    a.rows = rows;
    a.images_out = images;
    run_images(batch, &a, row2im_range);
}
