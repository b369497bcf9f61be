using System.Text.Encodings.Web;
using System.Text.Json;

namespace MeZO.Cli;

/// <summary>`--json` output on stdout: one JSON document, non-ASCII text kept readable, then a newline.</summary>
internal static class JsonOutput
{
    public static void Write(Action<Utf8JsonWriter> write, bool indented = false)
    {
        using (var json = new Utf8JsonWriter(Console.OpenStandardOutput(),
                   new JsonWriterOptions { Indented = indented, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(json);
        }
        Console.Out.WriteLine();
    }
}
