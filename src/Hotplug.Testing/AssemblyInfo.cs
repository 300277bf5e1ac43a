// The library drives Linux interfaces only (signals, sysfs, netlink, uio, vfio, eventfd, memfd).
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
