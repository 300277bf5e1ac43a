/* LD_PRELOAD'ed into the DPDK peer (dpdk-testpmd) by the VM benchmark: its stdout goes into a pipe to the guest's
 * stamping reader (hpguest stamp), and a pipe makes stdio buffer whole blocks; line buffering hands each line to
 * the stamper when printed, so the guest clock stamps it then (as our agent stamps its own lines). */
#include <stdio.h>

__attribute__((constructor)) static void hp_linebuf(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    setvbuf(stderr, NULL, _IOLBF, 0);
}
