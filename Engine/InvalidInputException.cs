namespace MeZO.Engine;

/// <summary>
/// A problem with what the user gave us (a file, a folder, an option), as opposed to a bug. The message is one line
/// that names the file or option and says what is wrong; the command line prints it without a stack trace.
/// </summary>
public class InvalidInputException : Exception
{
    public InvalidInputException(string message) : base(message)
    {
    }

    public InvalidInputException(string message, Exception? inner) : base(message, inner)
    {
    }
}
