namespace MeZO.Engine.Backends.Cuda.Planning;

/// <summary>One launch or product a plan recorded: its name, cost, and the device addresses it was given (which weights it reads).</summary>
internal sealed record RecordedWork(string Name, WorkCost Cost, nint[] Addresses);
