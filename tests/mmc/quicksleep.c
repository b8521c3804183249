/* Shortens the waits of a program that polls a drive (libburn sleeps half a
 * second before each TEST UNIT READY after loading, one second in others):
 * the simulated drive answers at once, so those waits only cost test time.
 * Preloaded with umockdev's library by tests/mmc/harness.py; nothing else of
 * the program changes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>

static int (*real_usleep)(useconds_t);

int usleep(useconds_t usec)
{
    if (!real_usleep)
        real_usleep = (int (*)(useconds_t)) dlsym(RTLD_NEXT, "usleep");
    return real_usleep(usec >= 20000 ? usec / 50 : usec);
}

unsigned int sleep(unsigned int seconds)
{
    usleep(seconds * 1000000u);
    return 0;
}
