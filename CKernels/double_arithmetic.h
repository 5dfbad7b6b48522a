/* Internal: pieces of double arithmetic shared by the kernels that compute in double and round
 * once to float. Each product and each sum is its own statement, so that no compiler fuses
 * them into one multiply-add: the same bits in every instruction set. */
#ifndef CK_DOUBLE_ARITHMETIC_H
#define CK_DOUBLE_ARITHMETIC_H

#include <stdint.h>
#include <string.h>

/* c[0] + c[1] x + ... + c[n - 1] x^(n - 1) by Horner's rule. */
static inline double polynomial_double(const double *c, int n, double x) {
    double p = c[n - 1];
    for (int i = n - 2; i >= 0; i--) {
        p = p * x;
        p = p + c[i];
    }
    return p;
}

/* The integer k nearest to x (ties to even), for |x| < 2^50, by adding and subtracting
 * 1.5 * 2^52 (no conversion to an integer type, which the baseline instruction set cannot
 * vectorize). *bits receives the sum's bits, whose low bits hold k in two's complement. */
static inline double nearest_integer(double x, uint64_t *bits) {
    const double shift = 0x1.8p52;
    double sum = x + shift;
    memcpy(bits, &sum, sizeof *bits);
    return sum - shift;
}

#endif
