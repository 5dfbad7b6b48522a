/* Internal: sine and cosine of a float in plain arithmetic, so that loops over them vectorize
 * (libm's sinf and cosf are a call per element). */
#ifndef CK_VECTOR_SINCOS_H
#define CK_VECTOR_SINCOS_H

#include "double_arithmetic.h"

#include <math.h>
#include <stdint.h>

/* The bits of the largest |x| sine_float reduces exactly, 2^24 (as magnitude_bits gives them);
 * beyond it (and for ±inf and NaN) the callers use sine_libm. */
#define CK_SINE_MAX_BITS 0x4b800000u

/* sin(x + quarter_turns * pi / 2) for |x| <= 2^24: sin(x) with 0, cos(x) with 1, -sin(x)
 * with 2. Computed in double and rounded once to float.
 * x = k pi/2 + r with k = round(x * 2/pi) (nearest_integer, whose low bits give k mod 4, the
 * quadrant) and |r| <= pi/4, pi/2 split in three positive
 * parts (so that x = -0 keeps r = -0): c1 and c2 of 29 significant bits, so that k c1 and k c2
 * are exact for |k| < 2^24, and x - k c1 is exact (x and k c1 are within a factor 2 of each
 * other, or k = 0); the later steps round relative to r, and the error left from
 * pi/2 - c1 - c2 - c3 is below 2^-86. sin r = r (1 + z S(z)) and
 * cos r = 1 + z C(z), z = r^2, S and C least-squares fits of degree 3 on |r| <= pi/4: relative
 * errors below 6e-12 and 7e-11. Against double sin and cos over all floats of 0 <= x <= 2^24
 * (and every 13th negative one: the computation is symmetric), error at most 0.5011 ulp.
 * sin(±0) = ±0 (r (1 + ...) keeps the sign of zero). The same bits in every instruction set
 * (no product fused with a sum). */
static inline float sine_float(float x, unsigned quarter_turns) {
    const double two_over_pi = 0.6366197723675814, c1 = 0x1.921fb54p+0, c2 = 0x1.10b4611p-30,
                 c3 = 0x1.4c4c6628b80dcp-59;
    double xd = x;
    double k = xd * two_over_pi;
    uint64_t bits;
    k = nearest_integer(k, &bits);
    double t = k * c1;
    double r = xd - t;
    t = k * c2;
    r = r - t;
    t = k * c3;
    r = r - t;
    double z = r * r;
    static const double sine[] = {1.0, -0.166666666400874, 0.008333329245030056,
                                  -0.0001983929702859513, 2.718000602762527e-06};
    static const double cosine[] = {1.0, -0.49999999686165947, 0.04166661967155616,
                                    -0.001388666444808746, 2.4382217562373375e-05};
    double s = polynomial_double(sine, 5, z);
    s = s * r;
    double c = polynomial_double(cosine, 5, z);
    uint64_t quadrant = bits + quarter_turns; /* mod 4: sin, cos, -sin, -cos */
    double v = quadrant & 1 ? c : s;
    v = quadrant & 2 ? -v : v;
    return (float)v;
}

/* sin(x + quarter_turns * pi / 2) for any x, by libm (for the arguments sine_float does not
 * take). */
static inline float sine_libm(float x, unsigned quarter_turns) {
    switch (quarter_turns & 3) {
    case 0: return sinf(x);
    case 1: return cosf(x);
    case 2: return -sinf(x);
    default: return -cosf(x);
    }
}

#endif
