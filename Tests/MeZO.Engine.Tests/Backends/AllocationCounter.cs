using System.Reflection;
using MeZO.Engine.Backends;

namespace MeZO.Engine.Tests.Backends;

/// <summary>
/// An <see cref="IBackend"/> that forwards every call to another and counts the calls to Allocate: how a test sees how
/// many backend allocations a piece of the engine makes.
/// </summary>
public class AllocationCounter : DispatchProxy
{
    private IBackend _inner = null!;

    public int Allocations { get; private set; }

    public static (IBackend Backend, AllocationCounter Counter) Wrap(IBackend inner)
    {
        var backend = Create<IBackend, AllocationCounter>();
        var counter = (AllocationCounter)(object)backend;
        counter._inner = inner;
        return (backend, counter);
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        if (targetMethod!.Name == nameof(IBackend.Allocate)) Allocations++;
        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }
}
