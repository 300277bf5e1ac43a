/* hpguest marks: part of hpguest.c (included there; one job per file).
 * A VM benchmark's host writes lines to the guest's second serial port: pings, and a marker just before each QMP
 * device_del / device_add. This reader stamps each on the guest's CLOCK_MONOTONIC the moment read() returns the
 * newline, prints it as a JSON line, and echoes "ack LINE" back, so the host can bound the guest-minus-host clock
 * offset by the round trip it measures (benchmarks/vm/run-nvme-bench.sh, run-vm-bench.sh). */

static int marks(const char *tty)
{
    /* Real-time priority: the reader runs the moment the serial interrupt has delivered the line, ahead of the
     * I/O loops it is timing (what is left is the emulated UART and the host scheduling the vCPU). */
    struct sched_param sp = { .sched_priority = 50 };
    if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) perror("sched_setscheduler");
    int fd = open(tty, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) { perror(tty); return 1; }
    struct termios tio;
    if (tcgetattr(fd, &tio) < 0) { perror("tcgetattr"); return 1; }
    cfmakeraw(&tio);
    cfsetispeed(&tio, B115200);
    cfsetospeed(&tio, B115200);
    tio.c_cc[VMIN] = 1;
    tio.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &tio) < 0) { perror("tcsetattr"); return 1; }
    tcflush(fd, TCIOFLUSH);
    printf("{\"t\":\"stamp-ready\",\"ms\":%.3f,\"tty\":\"%s\"}\n", now_ms(), tty);
    char line[256];
    size_t len = 0;
    for (;;) {
        char buf[256];
        ssize_t n = read(fd, buf, sizeof buf);
        double t = now_ms();
        if (n < 0) { if (errno == EINTR) continue; perror("read"); return 1; }
        if (n == 0) return 0;
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\r') continue;
            if (c != '\n') { if (len < sizeof line - 1) line[len++] = c; continue; }
            line[len] = 0;
            char ack[300];
            int m = snprintf(ack, sizeof ack, "ack %s\n", line);
            if (write(fd, ack, (size_t)m) != m) perror("write");
            printf("{\"t\":\"mark\",\"ms\":%.3f,\"text\":\"%s\"}\n", t, line);
            len = 0;
        }
    }
}
