/* Internal: scratch buffers that kernels keep between calls (packing buffers, padded copies).
 * Each lives in a _Thread_local ck_scratch, only grows while its thread lives, is freed when
 * its thread ends, and is never seen by the caller. */
#ifndef CK_SCRATCH_H
#define CK_SCRATCH_H

#include <stddef.h>

typedef struct ck_scratch {
    float *data;
    size_t capacity;         /* floats */
    struct ck_scratch *next; /* the thread's next buffer in use (scratch.c frees them) */
} ck_scratch;

/* At least `floats` floats, 64-byte aligned: s's buffer, grown first when too small (its
 * contents are then lost). s must be _Thread_local: its first allocation enrols it among the
 * calling thread's buffers, which are freed when the thread ends. Aborts with a message when
 * memory runs out: the kernels' API has no error return for it. */
float *ck_scratch_get(ck_scratch *s, size_t floats);

#endif
