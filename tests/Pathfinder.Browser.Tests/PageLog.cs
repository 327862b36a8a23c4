using Microsoft.Playwright;

namespace Pathfinder.Browser.Tests;

/// <summary>
/// Writes what a page does (console, page errors, failed requests, HTTP responses, WebSocket frames) to the test's
/// output, each line stamped with the time and the page's name: the trace a failing browser test leaves behind.
/// </summary>
internal static class PageLog
{
    /// <summary>One line of a page's trace.</summary>
    public static void Write(ITestOutputHelper output, string name, string line)
    {
        try
        {
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} [{name}] {line}");
        }
        catch (InvalidOperationException)
        {
            // The test already finished; late events (heartbeats, close) have nowhere to go.
        }
    }

    public static void Attach(IPage page, ITestOutputHelper output, string name)
    {
        void Write(string line) => PageLog.Write(output, name, line);

        page.Console += (_, message) => Write($"console.{message.Type}: {message.Text}");
        page.PageError += (_, error) => Write($"page error: {error}");
        page.RequestFailed += (_, request) => Write($"request failed: {request.Method} {request.Url}: {request.Failure}");
        page.Response += (_, response) =>
        {
            if (!response.Url.EndsWith(".js", StringComparison.Ordinal))
            {
                Write($"HTTP {response.Status} {response.Request.Method} {response.Url}");
            }
        };
        page.WebSocket += (_, socket) =>
        {
            Write($"WebSocket opened: {socket.Url}");
            socket.FrameSent += (_, frame) => Write($"ws >> {Shorten(frame.Text)}");
            socket.FrameReceived += (_, frame) => Write($"ws << {Shorten(frame.Text)}");
            socket.SocketError += (_, error) => Write($"ws error: {error}");
            socket.Close += (_, _) => Write("ws closed");
        };
    }

    private static string Shorten(string? text) =>
        text is null ? "<binary>" : text.Length <= 240 ? text : $"{text[..240]}… ({text.Length} chars)";
}
