/* Internal: the sums over one channel of a dense batch x channels x pixels tensor (NCHW with
 * pixels = H * W, N x F with pixels = 1), in double, in an order that does not depend on the
 * thread count: LANES accumulators, lane j taking the pixels i of each plane with
 * i % LANES == j in (b, i) order, added in a fixed tree at the end. The lanes are independent
 * chains, which the compiler runs as one vector where the caller is compiled for one
 * (CK_VECTORIZED): the functions are always inlined into it. */
#ifndef CK_CHANNEL_SUM_H
#define CK_CHANNEL_SUM_H

#include <stdint.h>

/* The planes of one channel in a dense batch x channels x pixels tensor. */
typedef struct {
    int64_t batch, channels, pixels;
} channel_layout;

enum { CHANNEL_SUM_LANES = 8 };

static inline double channel_lanes_total(const double lane[CHANNEL_SUM_LANES]) {
    return ((lane[0] + lane[1]) + (lane[2] + lane[3]))
           + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/* The sum over b and i of u[b][c][i]. */
static inline __attribute__((always_inline)) double
channel_sum(channel_layout l, int64_t c, const float *u) {
    enum { LANES = CHANNEL_SUM_LANES };
    double lane[LANES] = {0};
    for (int64_t b = 0; b < l.batch; b++) {
        const float *plane = u + (b * l.channels + c) * l.pixels;
        int64_t i = 0;
        for (; i + LANES <= l.pixels; i += LANES)
            for (int j = 0; j < LANES; j++) lane[j] += plane[i + j];
        for (int j = 0; i + j < l.pixels; j++) lane[j] += plane[i + j];
    }
    return channel_lanes_total(lane);
}

/* The sum over b and i of (u[b][c][i] - u_shift) * (v[b][c][i] - v_shift). */
static inline __attribute__((always_inline)) double
channel_centered_dot(channel_layout l, int64_t c, const float *u, double u_shift, const float *v,
                     double v_shift) {
    enum { LANES = CHANNEL_SUM_LANES };
    double lane[LANES] = {0};
    for (int64_t b = 0; b < l.batch; b++) {
        const int64_t base = (b * l.channels + c) * l.pixels;
        const float *up = u + base, *vp = v + base;
        int64_t i = 0;
        for (; i + LANES <= l.pixels; i += LANES)
            for (int j = 0; j < LANES; j++)
                lane[j] += ((double)up[i + j] - u_shift) * ((double)vp[i + j] - v_shift);
        for (int j = 0; i + j < l.pixels; j++)
            lane[j] += ((double)up[i + j] - u_shift) * ((double)vp[i + j] - v_shift);
    }
    return channel_lanes_total(lane);
}

#endif
