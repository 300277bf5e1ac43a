using System.Text;
using Hotplug;
using Tmds.Linux;
using static Tmds.Linux.LibC;

// Modes:
//   unregistered-sigbus [--no-handling]: fault on a truncated memfd mapping no bus knows. Must die like
//   it would without Hotplug (the .NET runtime's handler: "Fatal error", SIGABRT).
//   null-deref: with handling enabled a null dereference must still be a NullReferenceException.
//   detach-under-readers dispose|remove [zero] [--root DIR]: see DetachUnderReaders.
string mode = args.Length > 0 ? args[0] : "";
if (mode == "detach-under-readers")
    return DetachUnderReaders.Run(args[1..]);
bool handling = !args.Contains("--no-handling");
using var eal = new Eal();
if (handling)
    eal.EnableHotplugHandling();

switch (mode)
{
    case "unregistered-sigbus":
        unsafe
        {
            int fd;
            fixed (byte* n = Encoding.ASCII.GetBytes("crash-probe\0"))
                fd = memfd_create(n, 0);
            ftruncate(fd, 4096);
            byte* p = (byte*)mmap(null, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            p[0] = 1;
            ftruncate(fd, 0);
            Console.WriteLine("about-to-fault");
            Console.Out.Flush();
            Console.WriteLine(p[0]); // SIGBUS
            Console.WriteLine("survived");
            return 0;
        }
    case "null-deref":
        try
        {
            string? s = Environment.GetEnvironmentVariable("HOTPLUG_SURELY_UNSET_VARIABLE");
            Console.WriteLine(s!.Length);
            return 1;
        }
        catch (NullReferenceException)
        {
            Console.WriteLine("null-reference-exception");
            return 0;
        }
    case "installed-over":
        unsafe
        {
            // Someone installs another SIGBUS action over ours (here: SIG_IGN); disabling must leave it in place.
            byte* act = stackalloc byte[512];
            new Span<byte>(act, 512).Clear();
            *(nint*)act = 1; // SIG_IGN, the first field of glibc's struct sigaction
            if (sigaction(SIGBUS, (sigaction*)act, null) != 0)
                return 3;
            eal.DisableHotplugHandling();
            byte* cur = stackalloc byte[512];
            sigaction(SIGBUS, null, (sigaction*)cur);
            Console.WriteLine(*(nint*)cur == 1 ? "theirs-kept" : $"replaced:{*(nint*)cur:x}");
            return 0;
        }
    default:
        Console.Error.WriteLine("usage: Hotplug.CrashProbe unregistered-sigbus|null-deref|installed-over [--no-handling] | detach-under-readers dispose|remove [zero] [--root DIR]");
        return 2;
}
