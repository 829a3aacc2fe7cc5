/*
 * struct cerr: a caller-owned error report, so that failure paths never
 * allocate.  CODE is 0 or a negative errno / UV_E* value; HTTP_STATUS is
 * what a client should see when the error reaches one.
 */
#ifndef CARETI_CERR_H
#define CARETI_CERR_H

struct cerr {
    int code;
    int http_status;
    char msg[256];
};

/* Fill ERR (may be NULL: then nothing happens) and return CODE, so that
 * "return cerr_set(err, ...)" reads naturally.  Never allocates. */
int cerr_set(struct cerr *err, int code, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Replace every byte of S that is not part of valid UTF-8 with '?', in
 * place, so S can go into JSON. */
void cerr_make_utf8(char *s);

/* Reset ERR to "no error". */
void cerr_clear(struct cerr *err);

#endif
