using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using MeZO.Engine.Backends.Cuda.Native;
using NUnit.Framework;

namespace MeZO.Engine.Tests.Backends.Cuda;

/// <summary>
/// The bindings against the CUDA headers, where they are installed: a C++ program generated from the C# declarations
/// is compiled by g++ against cuda.h, nvrtc.h or cublasLt.h and prints, for every [LibraryImport], the symbol the
/// header maps the API's name to and the shape of the return value and of each parameter (pointer, const pointee,
/// enum, signed or unsigned integer, width); for every member of a binding enum the value and enum type of its C
/// constant; for every struct passed by pointer its size and field offsets. A missing _v2, a 32-bit size or a
/// misnumbered attribute would otherwise show only on a GPU. The headers are looked for in MEZO_CUDA_INCLUDE
/// (colon-separated), /usr/local/cuda/include and /usr/include; where none has them the tests are ignored.
/// </summary>
public class CudaHeaderAbiTests
{
    private const string IncludeVariable = "MEZO_CUDA_INCLUDE";

    private static readonly Lock Gate = new();
    private static readonly Dictionary<CudaLibrary, HeaderReport> Reports = [];

    /// <summary>Each binding enum: the library whose header declares it and the C enum type.</summary>
    private static readonly Dictionary<Type, (CudaLibrary Library, string CType)> EnumTypes = new()
    {
        [typeof(CuResult)] = (CudaLibrary.Driver, "CUresult"),
        [typeof(CuDeviceAttribute)] = (CudaLibrary.Driver, "CUdevice_attribute"),
        [typeof(CuFunctionAttribute)] = (CudaLibrary.Driver, "CUfunction_attribute"),
        [typeof(CuStreamCaptureMode)] = (CudaLibrary.Driver, "CUstreamCaptureMode"),
        [typeof(NvrtcResult)] = (CudaLibrary.Nvrtc, "nvrtcResult"),
        [typeof(CublasStatus)] = (CudaLibrary.CublasLt, "cublasStatus_t"),
        [typeof(CudaDataType)] = (CudaLibrary.CublasLt, "cudaDataType"),
        [typeof(CublasComputeType)] = (CudaLibrary.CublasLt, "cublasComputeType_t"),
        [typeof(CublasOperation)] = (CudaLibrary.CublasLt, "cublasOperation_t"),
        [typeof(MatmulDescAttribute)] = (CudaLibrary.CublasLt, "cublasLtMatmulDescAttributes_t"),
        [typeof(CublasLtEpilogue)] = (CudaLibrary.CublasLt, "cublasLtEpilogue_t"),
        [typeof(MatmulPreferenceAttribute)] = (CudaLibrary.CublasLt, "cublasLtMatmulPreferenceAttributes_t"),
    };

    /// <summary>The C constant each binding enum member stands for.</summary>
    private static readonly (Enum Member, string CName)[] CNames =
    [
        (CuResult.Success, "CUDA_SUCCESS"),
        (CuResult.InvalidValue, "CUDA_ERROR_INVALID_VALUE"),
        (CuResult.OutOfMemory, "CUDA_ERROR_OUT_OF_MEMORY"),
        (CuResult.NotInitialized, "CUDA_ERROR_NOT_INITIALIZED"),
        (CuResult.Deinitialized, "CUDA_ERROR_DEINITIALIZED"),
        (CuResult.NoDevice, "CUDA_ERROR_NO_DEVICE"),
        (CuResult.Assert, "CUDA_ERROR_ASSERT"),
        (CuResult.HardwareStackError, "CUDA_ERROR_HARDWARE_STACK_ERROR"),
        (CuResult.IllegalInstruction, "CUDA_ERROR_ILLEGAL_INSTRUCTION"),
        (CuResult.MisalignedAddress, "CUDA_ERROR_MISALIGNED_ADDRESS"),
        (CuResult.InvalidAddressSpace, "CUDA_ERROR_INVALID_ADDRESS_SPACE"),
        (CuResult.InvalidPc, "CUDA_ERROR_INVALID_PC"),
        (CuResult.InvalidDevice, "CUDA_ERROR_INVALID_DEVICE"),
        (CuResult.InvalidImage, "CUDA_ERROR_INVALID_IMAGE"),
        (CuResult.InvalidContext, "CUDA_ERROR_INVALID_CONTEXT"),
        (CuResult.NoBinaryForGpu, "CUDA_ERROR_NO_BINARY_FOR_GPU"),
        (CuResult.InvalidPtx, "CUDA_ERROR_INVALID_PTX"),
        (CuResult.UnsupportedPtxVersion, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"),
        (CuResult.JitCompilerNotFound, "CUDA_ERROR_JIT_COMPILER_NOT_FOUND"),
        (CuResult.NotFound, "CUDA_ERROR_NOT_FOUND"),
        (CuResult.IllegalAddress, "CUDA_ERROR_ILLEGAL_ADDRESS"),
        (CuResult.LaunchOutOfResources, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"),
        (CuResult.LaunchTimeout, "CUDA_ERROR_LAUNCH_TIMEOUT"),
        (CuResult.LaunchFailed, "CUDA_ERROR_LAUNCH_FAILED"),
        (CuResult.StreamCaptureUnsupported, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"),
        (CuResult.StreamCaptureInvalidated, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"),
        (CuResult.CompatNotSupportedOnDevice, "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE"),
        (CuResult.SystemDriverMismatch, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"),
        (CuResult.Unknown, "CUDA_ERROR_UNKNOWN"),
        (CuDeviceAttribute.MaxThreadsPerBlock, "CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK"),
        (CuDeviceAttribute.MaxSharedMemoryPerBlock, "CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK"),
        (CuDeviceAttribute.MultiprocessorCount, "CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT"),
        (CuDeviceAttribute.ComputeCapabilityMajor, "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR"),
        (CuDeviceAttribute.ComputeCapabilityMinor, "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR"),
        (CuDeviceAttribute.MaxSharedMemoryPerBlockOptin, "CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN"),
        (CuFunctionAttribute.MaxThreadsPerBlock, "CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK"),
        (CuFunctionAttribute.SharedSizeBytes, "CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES"),
        (CuFunctionAttribute.NumRegisters, "CU_FUNC_ATTRIBUTE_NUM_REGS"),
        (CuFunctionAttribute.MaxDynamicSharedSizeBytes, "CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES"),
        (CuStreamCaptureMode.Global, "CU_STREAM_CAPTURE_MODE_GLOBAL"),
        (CuStreamCaptureMode.ThreadLocal, "CU_STREAM_CAPTURE_MODE_THREAD_LOCAL"),
        (CuStreamCaptureMode.Relaxed, "CU_STREAM_CAPTURE_MODE_RELAXED"),
        (NvrtcResult.Success, "NVRTC_SUCCESS"),
        (NvrtcResult.OutOfMemory, "NVRTC_ERROR_OUT_OF_MEMORY"),
        (NvrtcResult.ProgramCreationFailure, "NVRTC_ERROR_PROGRAM_CREATION_FAILURE"),
        (NvrtcResult.InvalidInput, "NVRTC_ERROR_INVALID_INPUT"),
        (NvrtcResult.InvalidProgram, "NVRTC_ERROR_INVALID_PROGRAM"),
        (NvrtcResult.InvalidOption, "NVRTC_ERROR_INVALID_OPTION"),
        (NvrtcResult.Compilation, "NVRTC_ERROR_COMPILATION"),
        (NvrtcResult.BuiltinOperationFailure, "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE"),
        (NvrtcResult.NoNameExpressionsAfterCompilation, "NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION"),
        (NvrtcResult.NoLoweredNamesBeforeCompilation, "NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION"),
        (NvrtcResult.NameExpressionNotValid, "NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID"),
        (NvrtcResult.InternalError, "NVRTC_ERROR_INTERNAL_ERROR"),
        (CublasStatus.Success, "CUBLAS_STATUS_SUCCESS"),
        (CublasStatus.NotInitialized, "CUBLAS_STATUS_NOT_INITIALIZED"),
        (CublasStatus.AllocFailed, "CUBLAS_STATUS_ALLOC_FAILED"),
        (CublasStatus.InvalidValue, "CUBLAS_STATUS_INVALID_VALUE"),
        (CublasStatus.ArchMismatch, "CUBLAS_STATUS_ARCH_MISMATCH"),
        (CublasStatus.MappingError, "CUBLAS_STATUS_MAPPING_ERROR"),
        (CublasStatus.ExecutionFailed, "CUBLAS_STATUS_EXECUTION_FAILED"),
        (CublasStatus.InternalError, "CUBLAS_STATUS_INTERNAL_ERROR"),
        (CublasStatus.NotSupported, "CUBLAS_STATUS_NOT_SUPPORTED"),
        (CublasStatus.LicenseError, "CUBLAS_STATUS_LICENSE_ERROR"),
        (CudaDataType.R32F, "CUDA_R_32F"),
        (CudaDataType.R16F, "CUDA_R_16F"),
        (CudaDataType.R16BF, "CUDA_R_16BF"),
        (CublasComputeType.Compute32F, "CUBLAS_COMPUTE_32F"),
        (CublasComputeType.Compute32FFastTF32, "CUBLAS_COMPUTE_32F_FAST_TF32"),
        (CublasOperation.None, "CUBLAS_OP_N"),
        (CublasOperation.Transpose, "CUBLAS_OP_T"),
        (MatmulDescAttribute.TransA, "CUBLASLT_MATMUL_DESC_TRANSA"),
        (MatmulDescAttribute.TransB, "CUBLASLT_MATMUL_DESC_TRANSB"),
        (MatmulDescAttribute.Epilogue, "CUBLASLT_MATMUL_DESC_EPILOGUE"),
        (MatmulDescAttribute.BiasPointer, "CUBLASLT_MATMUL_DESC_BIAS_POINTER"),
        (MatmulDescAttribute.BiasDataType, "CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE"),
        (CublasLtEpilogue.Default, "CUBLASLT_EPILOGUE_DEFAULT"),
        (CublasLtEpilogue.Bias, "CUBLASLT_EPILOGUE_BIAS"),
        (CublasLtEpilogue.Relu, "CUBLASLT_EPILOGUE_RELU"),
        (CublasLtEpilogue.ReluBias, "CUBLASLT_EPILOGUE_RELU_BIAS"),
        (MatmulPreferenceAttribute.MaxWorkspaceBytes, "CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES"),
        (MatmulPreferenceAttribute.MinAlignmentABytes, "CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES"),
        (MatmulPreferenceAttribute.MinAlignmentBBytes, "CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES"),
        (MatmulPreferenceAttribute.MinAlignmentCBytes, "CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES"),
        (MatmulPreferenceAttribute.MinAlignmentDBytes, "CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES"),
    ];

    /// <summary>Flags the handles pass as plain integers.</summary>
    private static readonly HeaderConstant[] Flags =
    [
        new("CudaStreamHandle.NonBlocking", CudaStreamHandle.NonBlocking, CudaLibrary.Driver, "CUstream_flags", "CU_STREAM_NON_BLOCKING"),
        new("CudaEventHandle.DisableTiming", CudaEventHandle.DisableTiming, CudaLibrary.Driver, "CUevent_flags", "CU_EVENT_DISABLE_TIMING"),
    ];

    /// <summary>The structs cuBLASLt reads and writes through pointers, field by field.</summary>
    private static readonly (Type Type, string CType, (string Field, string CField)[] Fields)[] Structs =
    [
        (typeof(CublasLtMatmulAlgo), "cublasLtMatmulAlgo_t", []),
        (typeof(CublasLtHeuristicResult), "cublasLtMatmulHeuristicResult_t",
            [("Algo", "algo"), ("WorkspaceSize", "workspaceSize"), ("State", "state"), ("WavesCount", "wavesCount"), ("Reserved", "reserved")]),
    ];

    private static readonly string[] Libraries = Enum.GetNames<CudaLibrary>();

    [Test]
    public void EveryBindingEnumMemberNamesItsHeaderConstant()
    {
        // Runs everywhere: a member added without its C name would escape the header comparison below.
        var bindingEnums = typeof(CudaDriver).Assembly.GetTypes()
            .Where(t => t.IsEnum && t.Namespace == typeof(CudaDriver).Namespace && t != typeof(CudaLibrary));
        foreach (var type in bindingEnums)
        {
            Assert.That(EnumTypes.ContainsKey(type), Is.True, $"{type.Name} has no C enum type in {nameof(EnumTypes)}");
            // The C enums have no aliases in the subset bound here, so two members of one value are a typo.
            Assert.That(Enum.GetValues(type).Cast<Enum>().Distinct().Count(), Is.EqualTo(Enum.GetNames(type).Length),
                $"two members of {type.Name} have one value");
            foreach (Enum member in Enum.GetValues(type))
                Assert.That(CNames.Any(c => c.Member.Equals(member)), Is.True, $"{type.Name}.{member} has no C name in {nameof(CNames)}");
        }
    }

    [TestCaseSource(nameof(Libraries))]
    public void EveryImportIsTheSymbolAndPrototypeTheHeaderDeclares(string libraryName)
    {
        var library = Enum.Parse<CudaLibrary>(libraryName);
        var report = Report(library);
        var problems = new List<string>();
        foreach (var import in Imports(library))
        {
            if (!report.Functions.TryGetValue(import.Entry, out var function))
            {
                problems.Add($"{import.Entry}: not in the program's output");
                continue;
            }
            if (function.Mapped != import.Entry)
                problems.Add($"{import.Api}: {report.Header} maps it to {function.Mapped}, the binding imports {import.Entry}");
            var parameters = import.Method.GetParameters();
            if (function.Parameters.Length != parameters.Length)
            {
                problems.Add($"{import.Entry}: {function.Parameters.Length} parameters in {report.Header}, {parameters.Length} in C#");
                continue;
            }
            if (!Regex.IsMatch(function.Return, Anchored(Pattern(import.Method.ReturnType))))
                problems.Add($"{import.Entry}: returns {function.Return} in {report.Header}, {import.Method.ReturnType.Name} in C#");
            for (int i = 0; i < parameters.Length; i++)
                if (!Regex.IsMatch(function.Parameters[i], Anchored(Pattern(parameters[i].ParameterType))))
                    problems.Add($"{import.Entry} parameter {i} ({parameters[i].Name}): {function.Parameters[i]} in {report.Header}, " +
                                 $"{parameters[i].ParameterType.Name} in C#");
        }
        Assert.That(problems, Is.Empty, $"against {report.Folder} ({Describe.Legend})");
    }

    [TestCaseSource(nameof(Libraries))]
    public void EveryConstantHasTheHeaderValueAndEnumType(string libraryName)
    {
        var library = Enum.Parse<CudaLibrary>(libraryName);
        var report = Report(library);
        var problems = new List<string>();
        foreach (var constant in Constants(library))
        {
            var (value, ofType) = report.Values[constant.CName];
            if (value != constant.Value) problems.Add($"{constant.CSharp} = {constant.Value}, {constant.CName} = {value}");
            if (!ofType) problems.Add($"{constant.CName} is not a {constant.CType} (the type {constant.CSharp} stands for)");
        }
        Assert.That(problems, Is.Empty, $"against {report.Folder}");
    }

    [TestCaseSource(nameof(Libraries))]
    public void EnumsAndStructsHaveTheHeaderSizesAndOffsets(string libraryName)
    {
        var library = Enum.Parse<CudaLibrary>(libraryName);
        var report = Report(library);
        var problems = new List<string>();
        foreach (var (type, (_, cType)) in EnumTypes.Where(e => e.Value.Library == library))
            if (report.Sizes[cType] != ManagedSize(type)) problems.Add($"sizeof({cType}) = {report.Sizes[cType]}, {type.Name}: {ManagedSize(type)}");
        foreach (var (type, cType, fields) in Structs.Where(_ => library == CudaLibrary.CublasLt))
        {
            if (report.Sizes[cType] != ManagedSize(type)) problems.Add($"sizeof({cType}) = {report.Sizes[cType]}, {type.Name}: {ManagedSize(type)}");
            foreach (var (field, cField) in fields)
            {
                long offset = Marshal.OffsetOf(type, field);
                if (report.Offsets[$"{cType}.{cField}"] != offset)
                    problems.Add($"offsetof({cType}, {cField}) = {report.Offsets[$"{cType}.{cField}"]}, {type.Name}.{field}: {offset}");
            }
        }
        Assert.That(problems, Is.Empty, $"against {report.Folder}");
    }

    private sealed record Import(MethodInfo Method, string Api, string Entry);

    private sealed record HeaderConstant(string CSharp, long Value, CudaLibrary Library, string CType, string CName);

    private sealed record Prototype(string Mapped, string Return, string[] Parameters);

    /// <summary>What the generated program printed about one header.</summary>
    private sealed record HeaderReport(string Header, string Folder, Dictionary<string, Prototype> Functions,
        Dictionary<string, (long Value, bool OfType)> Values, Dictionary<string, long> Sizes, Dictionary<string, long> Offsets);

    private static string HeaderFile(CudaLibrary library) => library switch
    {
        CudaLibrary.Driver => "cuda.h",
        CudaLibrary.Nvrtc => "nvrtc.h",
        CudaLibrary.CublasLt => "cublasLt.h",
        _ => throw new ArgumentOutOfRangeException(nameof(library)),
    };

    private static IEnumerable<Import> Imports(CudaLibrary library)
    {
        var type = library switch
        {
            CudaLibrary.Driver => typeof(CudaDriver),
            CudaLibrary.Nvrtc => typeof(Nvrtc),
            _ => typeof(CublasLt),
        };
        return from method in type.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
               let import = method.GetCustomAttribute<LibraryImportAttribute>()
               where import is not null
               select new Import(method, method.Name, import.EntryPoint ?? method.Name);
    }

    private static IEnumerable<HeaderConstant> Constants(CudaLibrary library) =>
        CNames.Select(c => new HeaderConstant($"{c.Member.GetType().Name}.{c.Member}", Convert.ToInt64(c.Member),
                EnumTypes[c.Member.GetType()].Library, EnumTypes[c.Member.GetType()].CType, c.CName))
            .Concat(Flags)
            .Where(c => c.Library == library);

    private static long ManagedSize(Type type) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;

    private static string Anchored(string pattern) => "^" + pattern + "$";

    /// <summary>
    /// The descriptors (see <see cref="Describe.Legend"/>) a C# parameter type may bind to. out/ref are pointers the
    /// callee writes through, so never to const; nint and void* say nothing about the pointee; nuint is size_t.
    /// </summary>
    private static string Pattern(Type type)
    {
        if (type.IsByRef) return "p" + Pattern(type.GetElementType()!);
        if (type.IsPointer) return "pk?" + (type.GetElementType() == typeof(void) ? ".+" : Pattern(type.GetElementType()!));
        if (type == typeof(nint)) return "pk?.+";
        if (type == typeof(nuint)) return "u" + IntPtr.Size;
        if (type == typeof(string)) return "pkb1"; // UTF-8 in, so const char*
        if (type.IsEnum) return "e" + ManagedSize(type);
        if (type == typeof(int)) return "i4";
        if (type == typeof(uint)) return "u4";
        if (type == typeof(long)) return "i8";
        if (type == typeof(ulong)) return "u8";
        if (type == typeof(byte)) return "b1";
        if (type == typeof(float)) return "f4";
        if (type.IsValueType) return "s";
        throw new NotSupportedException($"no C descriptor for the C# type {type}");
    }

    /// <summary>Compiles and runs the program for one library once per test run.</summary>
    private static HeaderReport Report(CudaLibrary library)
    {
        lock (Gate)
        {
            if (Reports.TryGetValue(library, out var known)) return known;
            string header = HeaderFile(library);
            var folders = (Environment.GetEnvironmentVariable(IncludeVariable) ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Concat(["/usr/local/cuda/include", "/usr/include"]);
            string? folder = folders.FirstOrDefault(f => File.Exists(Path.Combine(f, header)));
            if (folder is null)
                Assert.Ignore($"{header} is not installed here (set {IncludeVariable} to a CUDA include folder): the bindings were not compared with it");
            string? gpp = HostCompiler.FindCompiler();
            if (gpp is null) Assert.Ignore("g++ is not installed: the bindings cannot be compared with the CUDA headers");

            string stem = Path.Combine(Path.GetTempPath(), $"mezo-abi-{library}-{Environment.ProcessId}");
            string output;
            try
            {
                File.WriteAllText(stem + ".cpp", Program(library, header));
                Run(gpp!, ["-std=c++17", "-I", folder!, "-o", stem, stem + ".cpp"], "g++");
                output = Run(stem, [], stem);
            }
            finally
            {
                File.Delete(stem + ".cpp");
                File.Delete(stem);
            }
            var report = Parse(header, folder!, output);
            Reports[library] = report;
            return report;
        }
    }

    private static string Program(CudaLibrary library, string header)
    {
        var text = new StringBuilder();
        text.AppendLine($"#include <{header}>").AppendLine(Describe.Source).AppendLine("int main()").AppendLine("{");
        foreach (var import in Imports(library))
            text.AppendLine($"    Prototype<decltype(&{import.Entry})>::Print(\"{import.Entry}\", MEZO_STRING({import.Api}));");
        foreach (var constant in Constants(library))
            text.AppendLine($"    Value(\"{constant.CName}\", (long long){constant.CName}, std::is_same_v<decltype({constant.CName}), {constant.CType}>);");
        foreach (var (_, (_, cType)) in EnumTypes.Where(e => e.Value.Library == library))
            text.AppendLine($"    Size(\"{cType}\", sizeof({cType}));");
        foreach (var (_, cType, fields) in Structs.Where(_ => library == CudaLibrary.CublasLt))
        {
            text.AppendLine($"    Size(\"{cType}\", sizeof({cType}));");
            foreach (var (_, cField) in fields) text.AppendLine($"    Offset(\"{cType}.{cField}\", offsetof({cType}, {cField}));");
        }
        return text.AppendLine("}").ToString();
    }

    private static HeaderReport Parse(string header, string folder, string output)
    {
        var report = new HeaderReport(header, folder, [], [], [], []);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] word = line.Split(' ');
            switch (word[0])
            {
                case "function": report.Functions[word[1]] = new Prototype(word[2], word[3], word[4..]); break;
                case "value": report.Values[word[1]] = (long.Parse(word[2]), word[3] == "1"); break;
                case "size": report.Sizes[word[1]] = long.Parse(word[2]); break;
                case "offset": report.Offsets[word[1]] = long.Parse(word[2]); break;
                default: throw new InvalidOperationException($"unexpected line from the header program: {line}");
            }
        }
        return report;
    }

    private static string Run(string program, IReadOnlyList<string> arguments, string name)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{name} failed (exit {process.ExitCode}):\n{errors.Result}");
        return output;
    }

    /// <summary>The C++ half: one descriptor per C type, printed for every return value and parameter.</summary>
    private static class Describe
    {
        public const string Legend = "p pointer, k to const, v void, b1 char, e enum, i/u signed/unsigned integer, f float, s struct; digits: bytes";

        public const string Source = """
            #include <cstddef>
            #include <cstdio>
            #include <string>
            #include <type_traits>
            #define MEZO_STRING_(x) #x
            #define MEZO_STRING(x) MEZO_STRING_(x)

            template <class T> std::string Describe()
            {
                using U = std::remove_cv_t<T>;
                if constexpr (std::is_pointer_v<U>)
                {
                    using P = std::remove_pointer_t<U>;
                    return std::string(std::is_const_v<P> ? "pk" : "p") + Describe<P>();
                }
                else if constexpr (std::is_void_v<U>) return "v";
                else if constexpr (std::is_same_v<U, char> || std::is_same_v<U, signed char> || std::is_same_v<U, unsigned char>) return "b1";
                else if constexpr (std::is_enum_v<U>) return "e" + std::to_string(sizeof(U));
                else if constexpr (std::is_floating_point_v<U>) return "f" + std::to_string(sizeof(U));
                else if constexpr (std::is_integral_v<U>) return (std::is_signed_v<U> ? "i" : "u") + std::to_string(sizeof(U));
                else if constexpr (std::is_function_v<U>) return "F";
                else return "s";
            }

            template <class F> struct Prototype;
            template <class R, class... A> struct Prototype<R (*)(A...)>
            {
                static void Print(const char* entry, const char* mapped)
                {
                    std::string line = std::string("function ") + entry + " " + mapped + " " + Describe<R>();
                    ((line += " " + Describe<A>()), ...);
                    std::puts(line.c_str());
                }
            };

            static void Value(const char* name, long long value, bool ofType) { std::printf("value %s %lld %d\n", name, value, ofType ? 1 : 0); }
            static void Size(const char* name, std::size_t size) { std::printf("size %s %zu\n", name, size); }
            static void Offset(const char* name, std::size_t offset) { std::printf("offset %s %zu\n", name, offset); }
            """;
    }
}
