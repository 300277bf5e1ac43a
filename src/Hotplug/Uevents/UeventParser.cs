using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace Hotplug.Uevents;

/// <summary>
/// Parses kernel uevent datagrams as they arrive on a <c>NETLINK_KOBJECT_UEVENT</c> socket:
/// <c>ACTION@DEVPATH\0KEY=VALUE\0KEY=VALUE\0...</c>, every field NUL-terminated.
/// </summary>
/// <remarks>
/// <para>The parser never throws on bad input and never reads outside the span it is given. A message is
/// rejected (with a one-line reason) when it is empty; larger than <see cref="MaxMessageBytes"/>; in
/// libudev's rebroadcast format (reason <c>"udev message"</c>); has no NUL after the header or no <c>@</c>
/// in it; does not end with a NUL (truncated mid-field); has an empty field, a field without <c>=</c>, an
/// empty key, or bytes that are not valid UTF-8; lacks <c>ACTION</c>, <c>DEVPATH</c> or <c>SUBSYSTEM</c>;
/// has <c>ACTION</c>/<c>DEVPATH</c> keys that disagree with the header; or has a <c>SEQNUM</c> that is not a
/// decimal number.</para>
/// <para>Duplicate keys are rejected (reason <c>duplicate key 'K'</c>) rather than resolved: the kernel
/// never repeats a key, so a repeated one means the message is not what it claims to be, and picking one of
/// two <c>DEVPATH</c>s could misroute a removal.</para>
/// </remarks>
public static class UeventParser
{
    /// <summary>
    /// The largest message accepted, in bytes. The kernel builds the key/value part in a
    /// 2048-byte buffer (<c>UEVENT_BUFFER_SIZE</c>) and prepends the <c>ACTION@DEVPATH</c> header, so real
    /// messages stay well below this; the margin covers a longer buffer in future kernels.
    /// </summary>
    public const int MaxMessageBytes = 8192;

    /// <summary>Longest key or value quoted back in an error reason; longer text is cut.</summary>
    private const int MaxQuoted = 64;

    private static ReadOnlySpan<byte> LibudevPrefix => "libudev\0"u8;

    /// <summary>Parses one uevent datagram.</summary>
    /// <param name="message">The datagram, exactly as long as the kernel sent it.</param>
    /// <param name="uevent">The parsed event on success.</param>
    /// <param name="error">On failure, why the message was rejected.</param>
    /// <returns><see langword="true"/> if the message is a well-formed kernel uevent.</returns>
    public static bool TryParse(ReadOnlySpan<byte> message, [NotNullWhen(true)] out Uevent? uevent, [NotNullWhen(false)] out string? error)
    {
        uevent = null;
        error = Parse(message, out uevent);
        return error is null;
    }

    private static string? Parse(ReadOnlySpan<byte> message, out Uevent? uevent)
    {
        uevent = null;
        if (message.IsEmpty)
            return "empty message";
        if (message.Length > MaxMessageBytes)
            return $"oversized message: {message.Length} bytes, limit {MaxMessageBytes}";
        if (message.StartsWith(LibudevPrefix))
            return "udev message";

        int headerEnd = message.IndexOf((byte)0);
        if (headerEnd < 0)
            return "header without NUL";
        ReadOnlySpan<byte> header = message[..headerEnd];
        int at = header.IndexOf((byte)'@');
        if (at < 0)
            return "no '@' in header";
        if (message[^1] != 0)
            return "truncated: message does not end with NUL (ended mid-field)";
        if (!Utf8.IsValid(header))
            return "invalid UTF-8 in header";
        if (at == 0)
            return "empty action in header";
        if (at == header.Length - 1)
            return "empty devpath in header";

        string? fieldError = ParseFields(message[(headerEnd + 1)..], out var properties);
        if (fieldError is not null)
            return fieldError;

        string headerAction = Encoding.UTF8.GetString(header[..at]);
        string headerDevPath = Encoding.UTF8.GetString(header[(at + 1)..]);
        if (!properties.TryGetValue("ACTION", out var action))
            return "missing ACTION key";
        if (!properties.TryGetValue("DEVPATH", out var devPath))
            return "missing DEVPATH key";
        if (!properties.TryGetValue("SUBSYSTEM", out var subsystem))
            return "missing SUBSYSTEM key";
        if (action != headerAction)
            return $"ACTION key '{Quote(action)}' disagrees with header '{Quote(headerAction)}'";
        if (devPath != headerDevPath)
            return $"DEVPATH key '{Quote(devPath)}' disagrees with header '{Quote(headerDevPath)}'";
        if (subsystem.Length == 0)
            return "empty SUBSYSTEM";

        ulong? seqNum = null;
        if (properties.TryGetValue("SEQNUM", out var seqText))
        {
            if (!ulong.TryParse(seqText, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                return $"invalid SEQNUM '{Quote(seqText)}'";
            seqNum = seq;
        }

        uevent = new Uevent(action, devPath, subsystem, seqNum, properties);
        return null;
    }

    /// <summary>Splits the NUL-terminated KEY=VALUE fields; <paramref name="fields"/> ends with a NUL or is empty.</summary>
    private static string? ParseFields(ReadOnlySpan<byte> fields, out Dictionary<string, string> properties)
    {
        properties = new Dictionary<string, string>(StringComparer.Ordinal);
        int index = 0;
        while (!fields.IsEmpty)
        {
            index++;
            int nul = fields.IndexOf((byte)0);
            if (nul < 0)
                return $"truncated: field #{index} does not end with NUL"; // unreachable: the caller checked the last byte
            ReadOnlySpan<byte> field = fields[..nul];
            fields = fields[(nul + 1)..];

            if (field.IsEmpty)
                return $"empty field #{index}";
            if (!Utf8.IsValid(field))
                return $"invalid UTF-8 in field #{index}";
            int eq = field.IndexOf((byte)'=');
            if (eq < 0)
                return $"field #{index} without '='";
            if (eq == 0)
                return $"empty key in field #{index}";

            string key = Encoding.UTF8.GetString(field[..eq]);
            string value = Encoding.UTF8.GetString(field[(eq + 1)..]);
            if (!properties.TryAdd(key, value))
                return $"duplicate key '{Quote(key)}'";
        }

        return null;
    }

    /// <summary>Makes untrusted text safe to put in a one-line reason: control characters become '?', long text is cut.</summary>
    private static string Quote(string text)
    {
        var sb = new StringBuilder(Math.Min(text.Length, MaxQuoted) + 3);
        foreach (char c in text.Length <= MaxQuoted ? text.AsSpan() : text.AsSpan(0, MaxQuoted))
            sb.Append(char.IsControl(c) ? '?' : c);
        if (text.Length > MaxQuoted)
            sb.Append("...");
        return sb.ToString();
    }
}
