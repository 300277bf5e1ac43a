namespace Hotplug.E1000;

/// <summary>The NIC refused or did not answer during bring-up (or was gone).</summary>
public sealed class E1000Exception : Exception
{
    /// <summary>Creates the exception with its message.</summary>
    public E1000Exception(string message) : base(message) { }

    /// <summary>Creates the exception with its message and cause.</summary>
    public E1000Exception(string message, Exception inner) : base(message, inner) { }
}
