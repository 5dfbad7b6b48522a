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
 * image's output transposed back. Every element is computed with operations fixed by the
 * shape: the same bits whatever the thread count. An infinity among the inputs would meet its
 * negative in the transforms' sums (NaN where the definition's sum is infinite): a piece whose
 * products M are not all finite is left to the caller, which takes the products instead. */
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
    return p->kernel == 3 && p->stride == 1 && p->pad == 1 && pieces > 1 && p->height > 0
           && p->width > 0 && p->channels > 0 && p->out_channels > 0;
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

void ck_winograd_weights(const ck_winograd_shape *p, const float *weight, int flipped,
                         float *u) {
    const int64_t channels = p->channels, outs = p->out_channels;
    for (int64_t o = 0; o < outs; o++)
        for (int64_t c = 0; c < channels; c++) {
            /* OIHW's kernel (o, c), or flipped, kernel (c, o) in reverse order. */
            const float *kernel = weight + (flipped ? c * outs + o : o * channels + c) * 9;
            float g[9], columns[4 * 3], tile[16];
            for (int64_t e = 0; e < 9; e++) g[e] = kernel[flipped ? 8 - e : e];
            for (int64_t x = 0; x < 3; x++) weight_transform(g + x, 3, columns + x, 3);
            for (int64_t i = 0; i < 4; i++) weight_transform(columns + 3 * i, 1, tile + 4 * i, 1);
            for (int64_t xi = 0; xi < 16; xi++) u[(xi * channels + c) * outs + o] = tile[xi];
        }
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

int ck_winograd_images(const ck_winograd_shape *p, const float *u, const float *images,
                       int64_t count, const float *bias, int relu, int accumulate, float *y) {
    const tile_grid t = grid_of(p);
    const int64_t n = count * t.tiles, outs = p->out_channels, channels = p->channels;
    const int64_t pixels = p->height * p->width, row = p->width * channels;
    const int64_t padded_floats = (2 * t.tile_rows + 2) * t.padded_width * channels;
    float *v = ck_scratch_get(&transformed_tiles, (size_t)(16 * n * channels));
    float *m = ck_scratch_get(&tile_products, (size_t)(16 * n * outs));
    float *dense = ck_scratch_get(&channels_last_image, (size_t)(pixels * channels));
    float *padded = ck_scratch_get(&padded_image, (size_t)padded_floats);
    float *out = ck_scratch_get(&channels_last_output, (size_t)(pixels * outs));
    float *planes = accumulate ? ck_scratch_get(&summed_output, (size_t)(pixels * outs)) : NULL;
    memset(padded, 0, (size_t)padded_floats * sizeof(float));
    for (int64_t b = 0; b < count; b++) {
        ck_transpose_block(channels, pixels, images + b * p->image_stride, p->channel_stride,
                           dense, channels);
        for (int64_t r = 0; r < p->height; r++) /* inside the border */
            memcpy(padded + ((r + 1) * t.padded_width + 1) * channels, dense + r * row,
                   (size_t)row * sizeof(float));
        transform_image(p, t, padded, b * t.tiles, n, v);
    }
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
