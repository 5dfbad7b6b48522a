/* Scratch buffers that kernels keep between calls: scratch.h. */
#include "scratch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ckernels.h"

/* The bytes of scratch memory all threads hold (ck_scratch_bytes). */
static _Atomic int64_t live_bytes;

/* Each thread's value: the first of its buffers in use, linked by `next`; NULL (no value) for
 * a thread that has none. The key's destructor frees them when the thread ends. A thread's
 * _Thread_local variables outlive its key destructors, so the list may point into them. */
static pthread_key_t thread_buffers;
static int thread_buffers_created; /* 0 if the key could not be created */
static pthread_once_t thread_buffers_once = PTHREAD_ONCE_INIT;

static void release(ck_scratch *s) {
    atomic_fetch_sub_explicit(&live_bytes, (int64_t)(s->capacity * sizeof(float)),
                              memory_order_relaxed);
    free(s->data);
    s->data = NULL;
    s->capacity = 0;
}

/* The key's destructor: frees the ending thread's buffers, and leaves each ck_scratch empty
 * and out of the list, so that a kernel run by a later destructor of the same thread enrols it
 * again (POSIX then runs this destructor again). */
static void free_thread_buffers(void *first) {
    for (ck_scratch *s = first; s != NULL;) {
        ck_scratch *next = s->next;
        release(s);
        s->next = NULL;
        s = next;
    }
}

static void create_thread_buffers_key(void) {
    thread_buffers_created = pthread_key_create(&thread_buffers, free_thread_buffers) == 0;
}

/* Adds s to the calling thread's buffers. Should the key or the thread's value be refused
 * (no memory for them), s stays allocated until the process ends, as if it were enrolled in
 * a thread that never ends. */
static void enrol(ck_scratch *s) {
    pthread_once(&thread_buffers_once, create_thread_buffers_key);
    if (!thread_buffers_created) return;
    ck_scratch *first = pthread_getspecific(thread_buffers);
    if (pthread_setspecific(thread_buffers, s) == 0) s->next = first;
}

float *ck_scratch_get(ck_scratch *s, size_t floats) {
    if (s->capacity >= floats) return s->data;
    /* A buffer is in its thread's list from its first allocation until the thread ends. */
    if (s->data == NULL) enrol(s);
    release(s);
    /* aligned_alloc wants a size that is a multiple of the alignment. */
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    s->data = aligned_alloc(64, bytes);
    if (s->data == NULL) {
        fprintf(stderr, "CKernels: cannot allocate %zu bytes of scratch memory\n", bytes);
        abort();
    }
    s->capacity = bytes / sizeof(float);
    atomic_fetch_add_explicit(&live_bytes, (int64_t)bytes, memory_order_relaxed);
    return s->data;
}

int64_t ck_scratch_bytes(void) { return atomic_load_explicit(&live_bytes, memory_order_relaxed); }
