using System.Text;

namespace Hotplug.Tests.Uevents;

/// <summary>Uevent datagrams exactly as the kernel sent them (from /work/shared/notes/kernel-and-vm-facts.md).</summary>
internal static class KernelUeventSamples
{
    public const string UioRemove =
        "remove@/devices/pci0000:00/0000:00:10.0/0000:01:00.0/uio/uio0\0ACTION=remove\0DEVPATH=/devices/pci0000:00/0000:00:10.0/0000:01:00.0/uio/uio0\0SUBSYSTEM=uio\0MAJOR=246\0MINOR=0\0DEVNAME=uio0\0SEQNUM=631\0";

    public const string PciUnbind =
        "unbind@/devices/pci0000:00/0000:00:10.0/0000:01:00.0\0ACTION=unbind\0DEVPATH=/devices/pci0000:00/0000:00:10.0/0000:01:00.0\0SUBSYSTEM=pci\0PCI_CLASS=FF00\0PCI_ID=1234:11E8\0PCI_SUBSYS_ID=1AF4:1100\0PCI_SLOT_NAME=0000:01:00.0\0SEQNUM=632\0";

    public const string PciRemove =
        "remove@/devices/pci0000:00/0000:00:10.0/0000:01:00.0\0ACTION=remove\0DEVPATH=/devices/pci0000:00/0000:00:10.0/0000:01:00.0\0SUBSYSTEM=pci\0PCI_CLASS=FF00\0PCI_ID=1234:11E8\0PCI_SUBSYS_ID=1AF4:1100\0PCI_SLOT_NAME=0000:01:00.0\0MODALIAS=pci:v00001234d000011E8sv00001AF4sd00001100bc00scFFi00\0SEQNUM=634\0";

    // The notes elide the middle of the two vfio messages ("..."); the elided DEVPATH repeats the header as
    // the kernel always does, and only the keys the notes show are kept.
    public const string VfioDevRemove =
        "remove@/devices/pci0000:00/0000:00:10.0/0000:01:00.0/vfio-dev/vfio0\0ACTION=remove\0DEVPATH=/devices/pci0000:00/0000:00:10.0/0000:01:00.0/vfio-dev/vfio0\0SUBSYSTEM=vfio-dev\0SEQNUM=632\0";

    public const string VfioGroupRemove =
        "remove@/devices/virtual/vfio/5\0ACTION=remove\0DEVPATH=/devices/virtual/vfio/5\0SUBSYSTEM=vfio\0MAJOR=245\0MINOR=0\0DEVNAME=vfio/5\0SEQNUM=633\0";

    public const string NetLoChange =
        "change@/devices/virtual/net/lo\0ACTION=change\0DEVPATH=/devices/virtual/net/lo\0SUBSYSTEM=net\0SYNTH_UUID=0\0INTERFACE=lo\0IFINDEX=1\0SEQNUM=828\0";

    public static IReadOnlyList<string> All { get; } = [UioRemove, PciUnbind, PciRemove, VfioDevRemove, VfioGroupRemove, NetLoChange];

    public static byte[] Bytes(string message) => Encoding.UTF8.GetBytes(message);
}
