// Signals, the SIGBUS shim and netlink sockets are process-wide: run the tests one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
