// Tests share process-wide state (the SIGBUS shim, signal handlers, the real uevent socket).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
