/* Scratch buffers that kernels keep between calls: scratch.h. */
#include "scratch.h"

#include <stdio.h>
#include <stdlib.h>

float *ck_scratch_get(ck_scratch *s, size_t floats) {
    if (s->capacity >= floats) return s->data;
    free(s->data);
    /* aligned_alloc wants a size that is a multiple of the alignment. */
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    s->data = aligned_alloc(64, bytes);
    if (s->data == NULL) {
        fprintf(stderr, "CKernels: cannot allocate %zu bytes of scratch memory\n", bytes);
        abort();
    }
    s->capacity = bytes / sizeof(float);
    return s->data;
}
