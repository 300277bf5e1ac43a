/*
 * The floor of a PCI scan: reads the same sysfs files our SysfsPciScanner reads (vendor, device,
 * subsystem ids, class, revision, numa_node, resource, driver and iommu_group links, driver_override,
 * the SR-IOV counts, the uio directory), parses them, keeps one record per function and sorts by
 * address. Plain open/read/close, no caching between scans.
 *
 *   scan <devices-dir> <iterations>
 *
 * Sample = one full scan of the directory.
 */
#include "bench_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

struct bar { uint64_t start, end, flags; };
struct dev {
    uint32_t addr; /* domain:bus:dev.fn packed */
    uint16_t vendor, device, svendor, sdevice;
    uint32_t class;
    uint8_t revision;
    int numa, numvfs, totalvfs, iommu_group;
    int nbars;
    struct bar bars[17];
    char driver[32], override[32], uio[16];
};

/* Reads a small file into buf (NUL-terminated, trailing newline kept). -1 if it does not exist. */
static int read_small(int dfd, const char *name, char *buf, size_t cap)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return (int)n;
}

static uint64_t read_hex(int dfd, const char *name)
{
    char b[64];
    return read_small(dfd, name, b, sizeof b) < 0 ? 0 : strtoull(b, NULL, 16);
}

static int read_int(int dfd, const char *name, int dflt)
{
    char b[64];
    return read_small(dfd, name, b, sizeof b) < 0 ? dflt : atoi(b);
}

static void link_name(int dfd, const char *name, char *out, size_t cap)
{
    char t[512];
    ssize_t n = readlinkat(dfd, name, t, sizeof t - 1);
    out[0] = 0;
    if (n <= 0)
        return;
    t[n] = 0;
    const char *slash = strrchr(t, '/');
    strncpy(out, slash ? slash + 1 : t, cap - 1);
    out[cap - 1] = 0;
}

static int parse_addr(const char *s, uint32_t *out)
{
    unsigned d, b, dv, f;
    char tail;
    if (sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &dv, &f, &tail) != 4 || dv > 31 || f > 7)
        return -1;
    *out = (d << 16) | (b << 8) | (dv << 3) | f;
    return 0;
}

static int cmp_dev(const void *a, const void *b)
{
    uint32_t x = ((const struct dev *)a)->addr, y = ((const struct dev *)b)->addr;
    return x < y ? -1 : x > y;
}

static int scan(const char *root, struct dev **devs, int *cap)
{
    DIR *d = opendir(root);
    if (!d)
        die(root);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        uint32_t addr;
        if (parse_addr(e->d_name, &addr) != 0)
            continue;
        int dfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            continue;
        if (n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            *devs = realloc(*devs, (size_t)*cap * sizeof **devs);
        }
        struct dev *v = &(*devs)[n++];
        memset(v, 0, sizeof *v);
        v->addr = addr;
        v->vendor = (uint16_t)read_hex(dfd, "vendor");
        v->device = (uint16_t)read_hex(dfd, "device");
        v->svendor = (uint16_t)read_hex(dfd, "subsystem_vendor");
        v->sdevice = (uint16_t)read_hex(dfd, "subsystem_device");
        v->class = (uint32_t)read_hex(dfd, "class");
        v->revision = (uint8_t)read_hex(dfd, "revision");
        v->numa = read_int(dfd, "numa_node", -1);
        char res[4096];
        if (read_small(dfd, "resource", res, sizeof res) > 0) {
            char *p = res;
            while (*p && v->nbars < 17) {
                char *end;
                struct bar *bb = &v->bars[v->nbars];
                bb->start = strtoull(p, &end, 16);
                bb->end = strtoull(end, &end, 16);
                bb->flags = strtoull(end, &end, 16);
                v->nbars++;
                p = strchr(end, '\n');
                if (!p)
                    break;
                p++;
            }
        }
        link_name(dfd, "driver", v->driver, sizeof v->driver);
        char grp[32];
        link_name(dfd, "iommu_group", grp, sizeof grp);
        v->iommu_group = grp[0] ? atoi(grp) : -1;
        if (read_small(dfd, "driver_override", v->override, sizeof v->override) < 0)
            v->override[0] = 0;
        v->numvfs = read_int(dfd, "sriov_numvfs", -1);
        if (v->numvfs < 0)
            v->numvfs = read_int(dfd, "max_vfs", -1);
        v->totalvfs = read_int(dfd, "sriov_totalvfs", -1);
        int ufd = openat(dfd, "uio", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ufd >= 0) {
            DIR *ud = fdopendir(ufd);
            struct dirent *ue;
            while (ud && (ue = readdir(ud)) != NULL)
                if (strncmp(ue->d_name, "uio", 3) == 0)
                    memcpy(v->uio, ue->d_name, strnlen(ue->d_name, sizeof v->uio - 1) + 1), v->uio[sizeof v->uio - 1] = 0;
            if (ud)
                closedir(ud);
        }
        close(dfd);
    }
    closedir(d);
    qsort(*devs, (size_t)n, sizeof **devs, cmp_dev);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <devices-dir> <iterations>\n", argv[0]);
        return 2;
    }
    int iters = atoi(argv[2]);
    struct dev *devs = NULL;
    int cap = 0, found = scan(argv[1], &devs, &cap); /* warm-up, and the count */
    int64_t *samples = calloc((size_t)iters, sizeof *samples);
    for (int i = 0; i < iters; i++) {
        int64_t t0 = now_ns();
        int k = scan(argv[1], &devs, &cap);
        samples[i] = now_ns() - t0;
        if (k != found) {
            fprintf(stderr, "scan found %d, then %d\n", found, k);
            return 1;
        }
    }
    fprintf(stderr, "scan: %d devices\n", found);
    report("scan", samples, iters);
    return 0;
}
