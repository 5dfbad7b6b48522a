/* Internal: the terms of the element-wise binary operations, forward (a op b) and backward
 * (an operand's gradient from dy, a and b), one element at a time, shared by the broadcasting
 * walk (broadcast.c) and the one-pass gradients of both operands (binary_gradients.c), so that
 * both compute the same bits. */
#ifndef CK_BINARY_TERMS_H
#define CK_BINARY_TERMS_H

/* The terms: forward results (from a and b) and operand gradients (from dy, a and b). */
enum {
    TERM_ADD, TERM_SUBTRACT, TERM_MULTIPLY, TERM_DIVIDE, /* a op b */
    TERM_DY,              /* dy: either operand of +, a of - */
    TERM_NEGATED_DY,      /* -dy: b of - */
    TERM_DY_TIMES_B,      /* dy * b: a of * */
    TERM_DY_TIMES_A,      /* dy * a: b of * */
    TERM_DY_OVER_B,       /* dy / b: a of / */
    TERM_QUOTIENT_B,      /* -(dy / b) * (a / b): b of /. dy / b is a's term, computed
                             once where a pass takes both; b * b is never formed (it would
                             overflow or underflow where the gradient does not). */
    TERM_QUOTIENT_B_GIVEN, /* -(dy / b) * q, q = a / b as the forward computed it, passed in
                              a's place: TERM_QUOTIENT_B's bits without its second division
                              (binary_gradients.c only) */
    TERM_KINDS
};

static inline __attribute__((always_inline)) float term(int kind, float dy, float a, float b) {
    switch (kind) {
    case TERM_ADD: return a + b;
    case TERM_SUBTRACT: return a - b;
    case TERM_MULTIPLY: return a * b;
    case TERM_DIVIDE: return a / b;
    case TERM_DY: return dy;
    case TERM_NEGATED_DY: return -dy;
    case TERM_DY_TIMES_B: return dy * b;
    case TERM_DY_TIMES_A: return dy * a;
    case TERM_DY_OVER_B: return dy / b;
    case TERM_QUOTIENT_B_GIVEN: return -((dy / b) * a);
    default: return -((dy / b) * (a / b));
    }
}

#endif
