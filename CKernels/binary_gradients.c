/* Both operands' gradients of a binary operation on two tensors of the same shape in one
 * pass over dy, a and b (ck_binary_gradients): the terms of ck_binary_gradient (broadcast.c,
 * binary_terms.h), added per element in the order of its two calls, b's gradient then a's,
 * so the bits are the same; each array is read once instead of once per gradient. For /, the
 * quotient a / b, when given, is read instead of a (b's term then divides once: dy / b,
 * which a's term shares). Without a's gradient, b's alone: for / from the quotient, one
 * division fewer than ck_binary_gradient's term. An operand's gradient may overwrite the
 * operand (da = a, db = b): the loop then reads that operand through its gradient's pointer,
 * each element before it writes it, so that the compiler sees one array and vectorizes
 * (for two pointers to the same array it would run its scalar form). */
#include "binary_terms.h"
#include "ckernels.h"
#include "threading.h"

/* Which operands the gradients overwrite (bits, as constants): a by da, b by db. */
enum { A_OVERWRITTEN = 1, B_OVERWRITTEN = 2 };

typedef struct {
    ck_binary_op op;
    int quotient_given; /* for /: a holds a / b */
    int overwritten;    /* A_OVERWRITTEN | B_OVERWRITTEN: da is a, db is b (* and / only) */
    int accumulate_a, accumulate_b;
    const float *dy, *a, *b;
    float *da, *db;
} gradients_args;

/* target (+)= term, the sum rounded once, as broadcast.c's rows. */
static inline __attribute__((always_inline)) float added(int accumulate, float target,
                                                         float term) {
    return accumulate ? target + term : term;
}

/* Which gradients a pass writes: da and db, two arrays or one (an operand used twice,
 * x * x: db's term is added first, then da's), or db alone (da NULL). */
typedef enum { TWO_TARGETS, SAME_TARGET, B_TARGET_ONLY } gradient_targets;

/* Elements [begin, end) with the terms of a (kind_a) and b (kind_b) into `targets`, the
 * operands in `overwritten` read through their gradients' pointers, added to da and db as
 * accumulate_a and accumulate_b say, all constants. */
static inline __attribute__((always_inline)) void gradients_loop(
    int kind_a, int kind_b, gradient_targets targets, int overwritten, int accumulate_a,
    int accumulate_b, const gradients_args *g, int64_t begin, int64_t end) {
    const float *restrict dy = g->dy, *restrict a = g->a, *restrict b = g->b;
    if (targets == B_TARGET_ONLY) {
        float *restrict db = g->db;
        for (int64_t i = begin; i < end; i++) {
            const float b_i = overwritten & B_OVERWRITTEN ? db[i] : b[i];
            db[i] = added(accumulate_b, db[i], term(kind_b, dy[i], a[i], b_i));
        }
        return;
    }
    /* Both terms before either store, so that what they share (dy / b for /) is computed
     * once. */
    if (targets == SAME_TARGET) {
        float *restrict d = g->da;
        for (int64_t i = begin; i < end; i++) {
            const float term_b = term(kind_b, dy[i], a[i], b[i]);
            const float term_a = term(kind_a, dy[i], a[i], b[i]);
            d[i] = added(accumulate_a, added(accumulate_b, d[i], term_b), term_a);
        }
        return;
    }
    float *restrict da = g->da, *restrict db = g->db;
    for (int64_t i = begin; i < end; i++) {
        const float a_i = overwritten & A_OVERWRITTEN ? da[i] : a[i];
        const float b_i = overwritten & B_OVERWRITTEN ? db[i] : b[i];
        const float term_b = term(kind_b, dy[i], a_i, b_i);
        const float term_a = term(kind_a, dy[i], a_i, b_i);
        db[i] = added(accumulate_b, db[i], term_b);
        da[i] = added(accumulate_a, da[i], term_a);
    }
}

/* gradients_loop with the accumulate flags as constants: each loop then adds or assigns
 * without a test per element (da's flag unused without da). */
static inline __attribute__((always_inline)) void gradients_kind(
    int kind_a, int kind_b, gradient_targets targets, int overwritten, const gradients_args *g,
    int64_t begin, int64_t end) {
    const int accumulate_a = targets != B_TARGET_ONLY && g->accumulate_a;
    if (accumulate_a && g->accumulate_b)
        gradients_loop(kind_a, kind_b, targets, overwritten, 1, 1, g, begin, end);
    else if (accumulate_a)
        gradients_loop(kind_a, kind_b, targets, overwritten, 1, 0, g, begin, end);
    else if (g->accumulate_b)
        gradients_loop(kind_a, kind_b, targets, overwritten, 0, 1, g, begin, end);
    else
        gradients_loop(kind_a, kind_b, targets, overwritten, 0, 0, g, begin, end);
}

/* gradients_kind with the terms of * and / (broadcast.c's ck_binary_gradient), whose
 * operands the gradients may overwrite. */
#define WITH_OPERAND_TERMS(targets, overwritten)                                                   \
    switch (g->op) {                                                                               \
    case CK_BINARY_MULTIPLY:                                                                       \
        gradients_kind(TERM_DY_TIMES_B, TERM_DY_TIMES_A, targets, overwritten, g, begin, end);     \
        break;                                                                                     \
    default:                                                                                       \
        if (g->quotient_given)                                                                     \
            gradients_kind(TERM_DY_OVER_B, TERM_QUOTIENT_B_GIVEN, targets, overwritten, g, begin,  \
                           end);                                                                   \
        else                                                                                       \
            gradients_kind(TERM_DY_OVER_B, TERM_QUOTIENT_B, targets, overwritten, g, begin, end);  \
        break;                                                                                     \
    }

/* gradients_kind with the terms of op's operands, no operand overwritten. */
#define WITH_TERMS(targets)                                                                        \
    switch (g->op) {                                                                               \
    case CK_BINARY_ADD: gradients_kind(TERM_DY, TERM_DY, targets, 0, g, begin, end); break;        \
    case CK_BINARY_SUBTRACT:                                                                       \
        gradients_kind(TERM_DY, TERM_NEGATED_DY, targets, 0, g, begin, end);                       \
        break;                                                                                     \
    default: WITH_OPERAND_TERMS(targets, 0) break;                                                 \
    }

CK_VECTORIZED static void gradients_range(const void *args, int64_t begin, int64_t end) {
    const gradients_args *g = args;
    if (!g->da) {
        if (g->overwritten & B_OVERWRITTEN) {
            WITH_OPERAND_TERMS(B_TARGET_ONLY, B_OVERWRITTEN)
        } else {
            WITH_TERMS(B_TARGET_ONLY)
        }
    } else if (g->da == g->db) {
        WITH_TERMS(SAME_TARGET)
    } else {
        switch (g->overwritten) {
        case A_OVERWRITTEN: WITH_OPERAND_TERMS(TWO_TARGETS, A_OVERWRITTEN) break;
        case B_OVERWRITTEN: WITH_OPERAND_TERMS(TWO_TARGETS, B_OVERWRITTEN) break;
        case A_OVERWRITTEN | B_OVERWRITTEN:
            WITH_OPERAND_TERMS(TWO_TARGETS, A_OVERWRITTEN | B_OVERWRITTEN)
            break;
        default: WITH_TERMS(TWO_TARGETS) break;
        }
    }
}

#undef WITH_TERMS
#undef WITH_OPERAND_TERMS

void ck_binary_gradients(ck_binary_op op, int64_t n, const float *dy, const float *a,
                         const float *b, const float *quotient, int accumulate_a, float *da,
                         int accumulate_b, float *db) {
    if (op < CK_BINARY_ADD || op > CK_BINARY_DIVIDE) return;
    const int quotient_given = op == CK_BINARY_DIVIDE && quotient;
    if (quotient_given) a = quotient;
    /* + and - read neither operand: dy stands in for a NULL one (never used). */
    if (!a) a = dy;
    if (!b) b = dy;
    /* + and - read no operand, so overwrite none that they read. */
    const int overwritten = op < CK_BINARY_MULTIPLY ? 0
        : (da && da == a ? A_OVERWRITTEN : 0) | (db == b ? B_OVERWRITTEN : 0);
    gradients_args args = {op, quotient_given, overwritten, accumulate_a, accumulate_b,
                           dy, a, b, da, db};
    ck_parallel_for(n, 16, ck_threads_for(n, CK_PARALLEL_MIN_ELEMENTS), gradients_range, &args);
}
