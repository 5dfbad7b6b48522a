/* A convolution's forward pass and its input gradient in the Winograd form F(2x2, 3x3) (Lavin
 * and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), for 3x3 windows at
 * stride 1 with padding 1: the output of each plane is taken in tiles of 2 x 2 pixels, tile
 * (ty, tx) from the 4 x 4 input pixels d at rows 2ty - 1.. and columns 2tx - 1.. (zeros
 * outside the image), and
 *   y = Aᵀ [Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B)] A
 * over the input channels c, with the 3 x 3 kernel g_c of each channel. The sum over the
 * channels of each of the 16 elements ξ = 4i + j of the transformed tiles is one product,
 *   M[ξ] (tiles x out_channels) = V[ξ] (tiles x channels) · U[ξ] (channels x out_channels),
 * 16 products of 16 multiply-adds per tile and channel pair where im2col's one product takes
 * 36 (4 output pixels by 9 weights). The input gradient is the same convolution of dz by the
 * kernels flipped, input and output channels swapped (dX[c] = Σ_o dz[o] ⋆ rot180(W[o][c]),
 * padding 1). The tiles are transformed channels last, every loop over
 * the channels a vector loop: each image is first transposed to channels last, and each
 * image's output transposed back. The weight gradient, in F(3x3, 2x2), is at the end of the
 * file. Every element is computed with operations fixed by the shape: the same bits whatever
 * the thread count. An infinity among the inputs would meet its negative in the transforms'
 * sums (NaN where the definition's sum is infinite): transformed products M, or dW's sums,
 * that are not all finite are left to the caller, which takes the products instead. */
#include "convolution_winograd.h"

#include "relu.h"
#include "scratch.h"
#include "transpose_block.h"
#include "vector_math.h"

#include <string.h>

/* Per thread: the input tiles transformed, V[ξ][tile][c], and their products, M[ξ][tile][o];
 * one image channels last (and, padded, inside a zero border one pixel wide, with a zero row
 * and column more for odd sizes); one image's output channels last. */
static _Thread_local ck_scratch transformed_tiles, tile_products;
static _Thread_local ck_scratch channels_last_image, padded_image, channels_last_output;
/* With accumulate, one image's output back in planes, to add to y, per thread. */
static _Thread_local ck_scratch summed_output;
/* The weight gradient's, per thread: one image of the output gradient channels last, padded
 * to whole tiles, and its tiles transformed, Y[ξ][tile][o] (Y[ξ][o][tile] of the whole piece
 * takes tile_products' place). */
static _Thread_local ck_scratch padded_gradient, image_gradient_tiles;

/* The tiles of a plane, tile_rows x tile_columns of 2 x 2 output pixels, and the padded
 * image's width in pixels. */
typedef struct {
    int64_t tile_rows, tile_columns, tiles, padded_width;
} tile_grid;

static tile_grid grid_of(const ck_winograd_shape *p) {
    const int64_t rows = (p->height + 1) / 2, columns = (p->width + 1) / 2;
    return (tile_grid){rows, columns, rows * columns, 2 * columns + 2};
}

int ck_conv2d_winograd(const ck_conv2d_pieces *p) {
    const int64_t pieces = (p->batch + p->images_per_piece - 1) / p->images_per_piece;
    return p->kernel == 3 && p->stride == 1 && p->pad == 1 && pieces > 1 && p->height >= 2
           && p->width >= 2 && p->channels > 0 && p->out_channels > 0;
}

int ck_conv2d_winograd_weight_gradient(const ck_conv2d_pieces *p) {
    return ck_conv2d_winograd(p) && p->height >= 3 && p->width >= 3;
}

int64_t ck_winograd_weight_floats(const ck_winograd_shape *p) {
    return 16 * p->out_channels * p->channels;
}

/* The 1-D transforms of 4 (or 3) values a stride apart: Bᵀ d, G g and Aᵀ m. */
static inline void input_transform(const float *d, int64_t s, float *out, int64_t out_s) {
    out[0] = d[0] - d[2 * s];
    out[out_s] = d[s] + d[2 * s];
    out[2 * out_s] = d[2 * s] - d[s];
    out[3 * out_s] = d[s] - d[3 * s];
}

static inline void weight_transform(const float *g, int64_t s, float *out, int64_t out_s) {
    out[0] = g[0];
    out[out_s] = 0.5f * (g[0] + g[s] + g[2 * s]);
    out[2 * out_s] = 0.5f * (g[0] - g[s] + g[2 * s]);
    out[3 * out_s] = g[2 * s];
}

static inline void output_transform(const float *m, int64_t s, float *out, int64_t out_s) {
    out[0] = m[0] + m[s] + m[2 * s];
    out[out_s] = m[s] - m[2 * s] - m[3 * s];
}

/* U's kernels of input channel c, output channels in vector lanes (their 3 x 3 weights `o_stride`
 * floats apart from `first`, in reverse order when flipped): G g Gᵀ each. */
CK_VECTORIZED static void transform_weights(const ck_winograd_shape *p, const float *first,
                                            int64_t o_stride, int flipped, int64_t c, float *u) {
    const int64_t channels = p->channels, outs = p->out_channels;
    const int64_t start = flipped ? 8 : 0, step = flipped ? -1 : 1;
#pragma omp simd
    for (int64_t o = 0; o < outs; o++) {
        float g[9], columns[4 * 3], tile[16];
        for (int64_t e = 0; e < 9; e++) g[e] = first[o * o_stride + start + step * e];
        for (int64_t x = 0; x < 3; x++) weight_transform(g + x, 3, columns + x, 3);
        for (int64_t i = 0; i < 4; i++) weight_transform(columns + 3 * i, 1, tile + 4 * i, 1);
        for (int64_t xi = 0; xi < 16; xi++) u[(xi * channels + c) * outs + o] = tile[xi];
    }
}

void ck_winograd_weights(const ck_winograd_shape *p, const float *weight, int flipped,
                         float *u) {
    const int64_t channels = p->channels, outs = p->out_channels;
    /* OIHW's kernel (o, c) at (o * channels + c) * 9, or flipped, kernel (c, o). */
    for (int64_t c = 0; c < channels; c++)
        transform_weights(p, weight + (flipped ? c * outs : c) * 9,
                          flipped ? 9 : channels * 9, flipped, c, u);
}

/* V[ξ][b * tiles + t][c] for image b of the piece (n tiles in all), from its padded plane
 * (channels last): for each tile, Bᵀ d B of its 4 x 4 pixels, channel by channel in vector
 * lanes. */
CK_VECTORIZED static void transform_image(const ck_winograd_shape *p, tile_grid t,
                                          const float *padded, int64_t first_tile, int64_t n,
                                          float *v) {
    const int64_t channels = p->channels, pixel_row = t.padded_width * channels;
    for (int64_t tile = 0; tile < t.tiles; tile++) {
        const int64_t ty = tile / t.tile_columns, tx = tile % t.tile_columns;
        const float *d = padded + 2 * ty * pixel_row + 2 * tx * channels;
        float *out = v + (first_tile + tile) * channels; /* element ξ at ξ * n * channels */
#pragma omp simd
        for (int64_t c = 0; c < channels; c++) {
            float rows[16], tile_v[16];
            for (int64_t x = 0; x < 4; x++)
                input_transform(d + x * channels + c, pixel_row, rows + x, 4);
            for (int64_t i = 0; i < 4; i++) input_transform(rows + 4 * i, 1, tile_v + 4 * i, 1);
            for (int64_t xi = 0; xi < 16; xi++) out[xi * n * channels + c] = tile_v[xi];
        }
    }
}

/* Image b's output channels last (pixels x out_channels) from M[ξ][b * tiles + t][o]: each
 * tile Aᵀ m A, plus the bias, then the ReLU when asked for, its pixels inside the plane
 * written. */
CK_VECTORIZED static void transform_output(const ck_winograd_shape *p, tile_grid t,
                                           const float *m, int64_t first_tile, int64_t n,
                                           const float *bias, int relu, float *out) {
    const int64_t outs = p->out_channels;
    for (int64_t tile = 0; tile < t.tiles; tile++) {
        const int64_t y0 = 2 * (tile / t.tile_columns), x0 = 2 * (tile % t.tile_columns);
        const float *mt = m + (first_tile + tile) * outs; /* element ξ at ξ * n * outs */
        float *pixel = out + (y0 * p->width + x0) * outs;
        const int right = x0 + 1 < p->width, below = y0 + 1 < p->height;
#pragma omp simd
        for (int64_t o = 0; o < outs; o++) {
            float columns[8], y[4];
            for (int64_t j = 0; j < 4; j++)
                output_transform(mt + j * n * outs + o, 4 * n * outs, columns + j, 4);
            for (int64_t i = 0; i < 2; i++) output_transform(columns + 4 * i, 1, y + 2 * i, 1);
            for (int64_t e = 0; e < 4; e++) {
                const float value = y[e] + (bias ? bias[o] : 0.0f);
                y[e] = relu ? relu_value(value) : value;
            }
            pixel[o] = y[0];
            if (right) pixel[outs + o] = y[1];
            if (below) pixel[p->width * outs + o] = y[2];
            if (right && below) pixel[(p->width + 1) * outs + o] = y[3];
        }
    }
}

/* Whether none of the n floats of x is infinite or NaN. */
CK_VECTORIZED static int all_finite(int64_t n, const float *x) {
    uint32_t largest = 0;
#pragma omp simd reduction(max : largest)
    for (int64_t i = 0; i < n; i++) {
        const uint32_t magnitude = magnitude_bits(x[i]);
        largest = magnitude > largest ? magnitude : largest;
    }
    return largest < 0x7f800000u;
}

/* One image of `channels` planes `channel_stride` apart (height x width, dense) channels last
 * in `padded` (rows of padded_width pixels) from pixel (border, border): transposed into
 * `dense` (height * width * channels floats), then copied row by row. */
static void copy_channels_last(const ck_winograd_shape *p, int64_t channels, const float *image,
                               int64_t channel_stride, int64_t border, int64_t padded_width,
                               float *dense, float *padded) {
    const int64_t row = p->width * channels;
    ck_transpose_block(channels, p->height * p->width, image, channel_stride, dense, channels);
    for (int64_t r = 0; r < p->height; r++)
        memcpy(padded + ((r + border) * padded_width + border) * channels, dense + r * row,
               (size_t)row * sizeof(float));
}

/* V (16 x count * tiles x channels) of `count` images: each image channels last inside the
 * zero border of the padded plane, then its tiles transformed. */
static void transform_images(const ck_winograd_shape *p, tile_grid t, const float *images,
                             int64_t count, float *v) {
    const int64_t n = count * t.tiles, channels = p->channels;
    const int64_t padded_floats = (2 * t.tile_rows + 2) * t.padded_width * channels;
    float *dense = ck_scratch_get(&channels_last_image, (size_t)(p->height * p->width * channels));
    float *padded = ck_scratch_get(&padded_image, (size_t)padded_floats);
    memset(padded, 0, (size_t)padded_floats * sizeof(float));
    for (int64_t b = 0; b < count; b++) {
        copy_channels_last(p, channels, images + b * p->image_stride, p->channel_stride, 1,
                           t.padded_width, dense, padded);
        transform_image(p, t, padded, b * t.tiles, n, v);
    }
}

int ck_winograd_images(const ck_winograd_shape *p, const float *u, const float *images,
                       int64_t count, const float *bias, int relu, int accumulate, float *y) {
    const tile_grid t = grid_of(p);
    const int64_t n = count * t.tiles, outs = p->out_channels, channels = p->channels;
    const int64_t pixels = p->height * p->width;
    float *v = ck_scratch_get(&transformed_tiles, (size_t)(16 * n * channels));
    float *m = ck_scratch_get(&tile_products, (size_t)(16 * n * outs));
    float *out = ck_scratch_get(&channels_last_output, (size_t)(pixels * outs));
    float *planes = accumulate ? ck_scratch_get(&summed_output, (size_t)(pixels * outs)) : NULL;
    transform_images(p, t, images, count, v);
    for (int64_t xi = 0; xi < 16; xi++)
        ck_sgemm(0, 0, n, outs, channels, 1.0f, v + xi * n * channels, channels,
                 u + xi * channels * outs, outs, 0.0f, m + xi * n * outs, outs);
    if (!all_finite(16 * n * outs, m)) return 0;
    for (int64_t b = 0; b < count; b++) {
        transform_output(p, t, m, b * t.tiles, n, bias, relu, out);
        float *image = y + b * outs * pixels;
        ck_transpose_block(pixels, outs, out, outs, accumulate ? planes : image, pixels);
        if (!accumulate) continue;
#pragma omp simd
        for (int64_t i = 0; i < outs * pixels; i++) image[i] += planes[i];
    }
    return 1;
}

/* ---- The weight gradient in the Winograd form F(3x3, 2x2) -------------------------------
 * dW[o][c] (3 x 3) sums, over the images and tiles, the correlation of each tile's 4 x 4
 * input pixels d (channel c) with its 2 x 2 output gradient e (channel o, zero outside the
 * plane): dW[u][v] = Σ_ij e[i][j] d[i + u][j + v]. The forward identity, read as the
 * trilinear form Σ_ij e[i][j] y[i][j] = Σ_ξ (A e Aᵀ)[ξ] (G g Gᵀ)[ξ] (Bᵀ d B)[ξ], gives
 * dW = Gᵀ [Σ_tiles (A e Aᵀ) ⊙ (Bᵀ d B)] G: the input tiles transform as forward (V), the
 * gradient's tiles by A (4 x 2) into Y, and the sum by Gᵀ (3 x 4) once at the end. The sum
 * over the tiles of each element ξ is one product,
 *   M[ξ] (out_channels x channels) (+)= Y[ξ] (out_channels x tiles) · V[ξ] (tiles x channels),
 * 16 multiply-adds per tile and channel pair where im2row's product takes 36. */

/* A x and Gᵀ x of 2 or 4 values: (x0, x0 + x1, x0 - x1, -x1) and (x0 + h, (x1 - x2) / 2,
 * h + x3) with h = (x1 + x2) / 2. */
static inline void gradient_transform(float x0, float x1, float *out, int64_t out_s) {
    out[0] = x0;
    out[out_s] = x0 + x1;
    out[2 * out_s] = x0 - x1;
    out[3 * out_s] = -x1;
}

static inline void sum_transform(const float *m, int64_t s, float *out, int64_t out_s) {
    const float half_sum = 0.5f * (m[s] + m[2 * s]);
    out[0] = m[0] + half_sum;
    out[out_s] = 0.5f * (m[s] - m[2 * s]);
    out[2 * out_s] = half_sum + m[3 * s];
}

/* Y[ξ][t][o] (element ξ at ξ * tiles * out_channels) of one image of the output gradient,
 * channels last in `padded` (2 tile_rows x 2 tile_columns pixels, zero beyond the plane):
 * A e Aᵀ of each tile's 2 x 2 pixels e, channel by channel in vector lanes. */
CK_VECTORIZED static void transform_gradient(const ck_winograd_shape *p, tile_grid t,
                                             const float *padded, float *y) {
    const int64_t outs = p->out_channels, pixel_row = 2 * t.tile_columns * outs;
    for (int64_t tile = 0; tile < t.tiles; tile++) {
        const int64_t ty = tile / t.tile_columns, tx = tile % t.tile_columns;
        const float *e = padded + 2 * ty * pixel_row + 2 * tx * outs;
        float *out = y + tile * outs;
#pragma omp simd
        for (int64_t o = 0; o < outs; o++) {
            float rows[8], tile_y[16];
            gradient_transform(e[o], e[outs + o], rows, 1);
            gradient_transform(e[pixel_row + o], e[pixel_row + outs + o], rows + 4, 1);
            for (int64_t j = 0; j < 4; j++)
                gradient_transform(rows[j], rows[4 + j], tile_y + j, 4);
            for (int64_t xi = 0; xi < 16; xi++) out[xi * t.tiles * outs + o] = tile_y[xi];
        }
    }
}

void ck_winograd_weight_products(const ck_winograd_shape *p, const float *images,
                                 const float *dz, int64_t dz_image_stride,
                                 int64_t dz_channel_stride, int64_t count, float beta,
                                 float *m) {
    const tile_grid t = grid_of(p);
    const int64_t n = count * t.tiles, outs = p->out_channels, channels = p->channels;
    const int64_t padded_width = 2 * t.tile_columns;
    const int64_t padded_floats = 2 * t.tile_rows * padded_width * outs;
    float *v = ck_scratch_get(&transformed_tiles, (size_t)(16 * n * channels));
    float *y = ck_scratch_get(&tile_products, (size_t)(16 * outs * n));
    float *dense = ck_scratch_get(&channels_last_output, (size_t)(p->height * p->width * outs));
    float *padded = ck_scratch_get(&padded_gradient, (size_t)padded_floats);
    float *image_y = ck_scratch_get(&image_gradient_tiles, (size_t)(16 * t.tiles * outs));
    transform_images(p, t, images, count, v);
    memset(padded, 0, (size_t)padded_floats * sizeof(float));
    for (int64_t b = 0; b < count; b++) {
        copy_channels_last(p, outs, dz + b * dz_image_stride, dz_channel_stride, 0,
                           padded_width, dense, padded);
        transform_gradient(p, t, padded, image_y);
        for (int64_t xi = 0; xi < 16; xi++) /* into Y[ξ][o][b * tiles + t] */
            ck_transpose_block(t.tiles, outs, image_y + xi * t.tiles * outs, outs,
                               y + xi * outs * n + b * t.tiles, n);
    }
    for (int64_t xi = 0; xi < 16; xi++)
        ck_sgemm(0, 0, outs, channels, n, 1.0f, y + xi * outs * n, n, v + xi * n * channels,
                 channels, beta, m + xi * outs * channels, channels);
}

int ck_winograd_weight_gradient(const ck_winograd_shape *p, const float *m, float beta,
                                float *dw) {
    const int64_t channels = p->channels, pairs = p->out_channels * channels;
    if (!all_finite(16 * pairs, m)) return 0;
    for (int64_t pair = 0; pair < pairs; pair++) { /* o * channels + c, OIHW's order */
        float columns[4 * 3], g[9];
        for (int64_t j = 0; j < 4; j++)
            sum_transform(m + j * pairs + pair, 4 * pairs, columns + j, 4);
        for (int64_t u = 0; u < 3; u++) sum_transform(columns + 4 * u, 1, g + 3 * u, 1);
        float *kernel = dw + pair * 9;
        for (int64_t e = 0; e < 9; e++)
            kernel[e] = beta == 0.0f ? g[e] : beta * kernel[e] + g[e];
    }
    return 1;
}
