/* nvme-kbench removal: part of nvme-kbench.c (included there; one job per file). */

/* Prints the per-ms completion counts as sparse "index:count" pairs, 200 to a line. */
static void print_buckets(const char *side, double ms0, const int *b, int n)
{
    int on_line = 0;
    for (int i = 0; i < n; i++) {
        if (!b[i]) continue;
        if (on_line == 0) printf("{\"t\":\"buckets\",\"side\":\"%s\",\"ms0\":%.3f,\"c\":\"", side, ms0);
        printf("%s%d:%d", on_line ? "," : "", i, b[i]);
        if (++on_line == 200) { printf("\"}\n"); on_line = 0; }
    }
    if (on_line) printf("\"}\n");
}

static int removal(int qd, int max_ms, int post_ms, int errno_wait_ms)
{
    if (qd < 1 || qd > MAXQD) { fprintf(stderr, "QD 1..%d\n", MAXQD); return 2; }
    int *buckets = calloc((size_t)max_ms + 2, sizeof *buckets);
    uint64_t blocks = 0;
    char name[300] = "", name2[300] = "";
    int fd = open_dev(&blocks, name, sizeof name);
    if (fd < 0) { printf("{\"t\":\"error\",\"side\":\"kernel\",\"msg\":\"open: %s\"}\n", strerror(errno)); return 1; }
    aio_context_t ctx = 0;
    if (io_setup_(MAXQD, &ctx) < 0) { perror("io_setup"); return 1; }
    struct iocb *p[1];
    struct io_event ev[MAXQD];
    int inflight = 0, first_errno = 0, errors = 0, reopens = 0, open_tries = 0, running_said = 0;
    long ok_before = 0, ok_after = 0, first_res = 0;
    double t_errno = -1; /* the first read that failed with an errno (the first failure may be a 0-byte read) */
    int errno_first = 0;
    double ms0 = now_ms(), t_err = -1, t_closed = -1, t_open = -1, t_ok = -1;
    const char *err_where = "";
    int state = 0; /* 0 running, 1 draining after an error, 2 reopening */
    for (;;) {
        double t = now_ms();
        if (t - ms0 > max_ms || (t_ok >= 0 && t - t_ok > post_ms)) break;
        if (!running_said && t - ms0 > 300) {
            running_said = 1;
            printf("{\"t\":\"removal-running\",\"side\":\"kernel\",\"ms\":%.3f,\"dev\":\"%s\",\"qd\":%d}\n", t, name, qd);
        }
        if (state == 2) { /* the device is gone: look for it again, as an app would */
            open_tries++;
            fd = open_dev(&blocks, name2, sizeof name2);
            if (fd < 0) { usleep(200); continue; }
            ctx = 0; /* io_setup wants a zeroed context */
            if (io_setup_(MAXQD, &ctx) < 0) { perror("io_setup"); return 1; }
            t_open = now_ms();
            reopens++;
            state = 0;
        }
        /* With errno_wait_ms > 0, keep reading the old descriptor after the first failure, as an app that retries
         * would, until a read fails with an errno (a 0-byte read is only EOF). The benchmark's default is 0: closing
         * the removed disk ~2 s late made the guest's 6.1 kernel oops in nvme_dbbuf_dma_free (docs/benchmarks.md). */
        int retrying = state == 1 && t_errno < 0 && now_ms() - t_err < errno_wait_ms;
        while ((state == 0 || retrying) && inflight < qd) {
            int slot = inflight; /* slots are interchangeable: the buffer is never read */
            prep(&cbs[slot], fd, slot, blocks);
            p[0] = &cbs[slot];
            if (io_submit_(ctx, 1, p) == 1) { inflight++; continue; }
            errors++;
            retrying = 0;
            if (t_errno < 0) { t_errno = now_ms(); errno_first = errno; }
            if (t_err < 0) { t_err = now_ms(); first_errno = errno; err_where = "io_submit"; }
            state = 1;
        }
        if (inflight == 0 && state == 1 && !retrying) {
            io_destroy_(ctx);
            close(fd);
            fd = -1;
            if (t_closed < 0) t_closed = now_ms();
            state = 2;
            continue;
        }
        if (inflight == 0) continue;
        struct timespec to = { 0, 20 * 1000 * 1000 };
        long n = io_getevents_(ctx, 1, inflight, ev, &to);
        if (n < 0) { if (errno == EINTR) continue; perror("io_getevents"); return 1; }
        t = now_ms();
        for (long i = 0; i < n; i++) {
            inflight--;
            long res = (long)ev[i].res;
            if (res == BS) {
                int k = (int)(t - ms0);
                if (k >= 0 && k <= max_ms) buckets[k]++;
                if (t_err < 0) ok_before++;
                else {
                    ok_after++;
                    if (t_ok < 0 && t_open >= 0) t_ok = t;
                }
                continue;
            }
            errors++;
            if (res < 0 && t_errno < 0) { t_errno = t; errno_first = (int)-res; }
            if (t_err < 0) { t_err = t; first_res = res; first_errno = res < 0 ? (int)-res : 0; err_where = res < 0 ? "completion" : "short read"; }
            state = state == 0 ? 1 : state;
        }
    }
    double t_end = now_ms();
    printf("{\"t\":\"removal-done\",\"side\":\"kernel\",\"ms\":%.3f,\"qd\":%d,\"dev\":\"%s\",\"dev_after\":\"%s\","
           "\"first_error_ms\":%.3f,\"error\":\"%s\",\"errno\":%d,\"res\":%ld,\"error_at\":\"%s\",\"closed_ms\":%.3f,"
           "\"first_errno_ms\":%.3f,\"first_errno\":\"%s\",\"reopened_ms\":%.3f,\"first_ok_ms\":%.3f,\"ok_before\":%ld,\"ok_after\":%ld,\"errors\":%d,\"reopens\":%d,\"open_tries\":%d}\n",
           t_end, qd, name, name2, t_err, !strcmp(err_where, "short read") ? (first_res == 0 ? "0-byte read" : "short read") : first_errno ? strerrorname_np(first_errno) : "", first_errno, first_res, err_where,
           t_closed, t_errno, errno_first ? strerrorname_np(errno_first) : "", t_open, t_ok, ok_before, ok_after, errors, reopens, open_tries);
    print_buckets("kernel", ms0, buckets, (int)(t_end - ms0) + 1 > max_ms + 1 ? max_ms + 1 : (int)(t_end - ms0) + 1);
    if (fd >= 0) { io_destroy_(ctx); close(fd); }
    return t_err >= 0 && t_ok >= 0 ? 0 : 1;
}
