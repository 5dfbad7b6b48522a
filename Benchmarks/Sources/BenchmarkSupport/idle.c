/* Waiting for the process's other threads to go to sleep. After a parallel call, libomp's
 * workers spin for KMP_BLOCKTIME (200 ms by default) and OpenBLAS's for about 100 ms before
 * sleeping; on a 2-core machine a spinning worker takes the core the next measurement needs.
 * A spinning thread is in state R in /proc/self/task/<tid>/stat; a sleeping one is in S. */
#define _GNU_SOURCE
#include "benchmark_support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Whether a thread of this process other than the caller is running or runnable. */
static int other_thread_running(void) {
    const long self = syscall(SYS_gettid);
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return 0;
    int running = 0;
    for (struct dirent *task; !running && (task = readdir(tasks)) != NULL;) {
        if (task->d_name[0] == '.' || atol(task->d_name) == self) continue;
        char path[64], stat[512];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", task->d_name);
        FILE *file = fopen(path, "r");
        if (file == NULL) continue; /* the thread has exited */
        size_t length = fread(stat, 1, sizeof stat - 1, file);
        fclose(file);
        stat[length] = '\0';
        /* "tid (name) S ...": the state follows the last ')' (the name may hold one). */
        const char *name_end = strrchr(stat, ')');
        running = name_end != NULL && name_end[1] == ' ' && name_end[2] == 'R';
    }
    closedir(tasks);
    return running;
}

static double total_wait = 0.0;

double bench_wait_for_idle_threads(double max_seconds) {
    const double start = seconds_now();
    const struct timespec poll = {0, 1000000};
    while (other_thread_running() && seconds_now() - start < max_seconds) nanosleep(&poll, NULL);
    const double waited = seconds_now() - start;
    total_wait += waited;
    return waited;
}

double bench_total_idle_wait(void) { return total_wait; }
