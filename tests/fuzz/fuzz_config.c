/*
 * libFuzzer harness for src/config/config.c: the input is a caretid.yaml.  It is
 * loaded (every error path included) and, when valid, dumped.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "careti/config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char path[] = "/tmp/careti-fuzz-config-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    struct cerr err;
    struct config *cfg = config_load(path, &err);
    if (cfg != NULL) {
        FILE *null = fopen("/dev/null", "w");
        config_dump(cfg, null);
        fclose(null);
    }
    config_free(cfg);
    unlink(path);
    return 0;
}
