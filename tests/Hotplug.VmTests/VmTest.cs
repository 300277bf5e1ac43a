namespace Hotplug.VmTests;

/// <summary>
/// What every Vm test class shares: the fixture's guest image, the test's output, and a guest booted from
/// that image. Derived classes carry <c>[Collection("Vm")]</c> and <c>[Trait("Category", "Vm")]</c>.
/// </summary>
public abstract class VmTest(VmFixture fixture, ITestOutputHelper output)
{
    /// <summary>The built image and the published agent.</summary>
    protected VmFixture Fixture { get; } = fixture;

    /// <summary>This test's output (QEMU's and the guest's logs land here too).</summary>
    protected ITestOutputHelper Output { get; } = output;

    /// <summary>Boots a guest of the fixture's image; its kernel version goes into the timing tables.</summary>
    protected async Task<QemuGuest> StartGuestAsync(string name, string extraKernelArgs = "")
    {
        var guest = await QemuGuest.StartAsync(Fixture.Image, Output, new QemuGuestOptions { Name = name, ExtraKernelArgs = extraKernelArgs });
        VmTimings.KernelVersion = guest.KernelVersion;
        return guest;
    }
}
