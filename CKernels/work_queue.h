#ifndef CK_WORK_QUEUE_H
#define CK_WORK_QUEUE_H

#include <stdatomic.h>
#include <stdint.h>

/* Internal: the units of work that one thread of a team owns, numbered 0, 1, ...: [front, end)
 * of them are left. Its owner takes them from the front, in order; a thread that has finished
 * its own takes them from the back. (The packed GEMM's queues hold one thread's units of a k
 * block; gemm_packed.c.) One 64-bit word, front in the high half and end in the low,
 * changed by compare-and-swap; a cache line of its own, so that an owner's takes do not
 * contend with the other queues. It only hands out numbers: barriers order the data. */
typedef struct {
    _Alignas(64) _Atomic uint64_t ends;
} work_queue;

/* The most units a queue holds. A thread with more (each unit holds at least one tile of C)
 * takes them in order, alone. */
#define WORK_QUEUE_MAX_UNITS UINT32_MAX

/* Fills q with units [0, count), count at most WORK_QUEUE_MAX_UNITS. */
static inline void work_queue_fill(work_queue *q, int64_t count) {
    atomic_store_explicit(&q->ends, (uint64_t)count, memory_order_relaxed);
}

/* The units left in q. */
static inline int64_t work_queue_left(work_queue *q) {
    const uint64_t ends = atomic_load_explicit(&q->ends, memory_order_relaxed);
    const uint64_t front = ends >> 32, end = ends & 0xFFFFFFFFu;
    return front < end ? (int64_t)(end - front) : 0;
}

/* Takes the first unit left in q (from_back 0) or the last: its number, or -1 if none is left. */
static inline int64_t work_queue_take(work_queue *q, int from_back) {
    uint64_t ends = atomic_load_explicit(&q->ends, memory_order_relaxed);
    for (;;) {
        const uint64_t front = ends >> 32, end = ends & 0xFFFFFFFFu;
        if (front >= end) return -1;
        const uint64_t taken = from_back ? front << 32 | (end - 1) : (front + 1) << 32 | end;
        if (atomic_compare_exchange_weak_explicit(&q->ends, &ends, taken, memory_order_relaxed,
                                                  memory_order_relaxed))
            return (int64_t)(from_back ? end - 1 : front);
    }
}

#endif
