// cuda_emulation.h — just enough of CUDA's device environment for Kernels/*.cu to compile and run as host C++.
// Each block runs its threads as cooperative fibers on one host thread: __syncthreads and the warp shuffles are
// barriers at which fibers switch, so every CUDA semantics the kernels rely on (shared memory, barriers, whole-warp
// exchanges, mma fragments) holds, deterministically. Blocks run one after another, which makes a function-local
// static a faithful __shared__ variable. Only for tests: slow, exact.
#pragma once
#define MEZO_EMULATION 1

#include <math.h>
#include <string.h>
#include <stddef.h>
#include <type_traits>
#include <utility>

struct mezo_uint3
{
    unsigned int x, y, z;
};

extern mezo_uint3 mezo_emulated_thread; // the running fiber's index, set by the scheduler at each switch
extern mezo_uint3 blockIdx, blockDim, gridDim;
#define threadIdx mezo_emulated_thread

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

void __syncthreads();
[[noreturn]] void __trap();
int atomicCAS(int* address, int compare, int value);
void* mezo_emulated_dynamic_shared();

/// Lane `source`'s copy of `value` (every lane of the warp must call it, as on the GPU with a full mask).
void mezo_emulated_exchange(void* value, size_t size, int source);

template <class T>
T __shfl_sync(unsigned int, T value, int source)
{
    mezo_emulated_exchange(&value, sizeof value, source);
    return value;
}

template <class T>
T __shfl_xor_sync(unsigned int, T value, int lane_mask)
{
    mezo_emulated_exchange(&value, sizeof value, (int)(threadIdx.x & 31) ^ lane_mask);
    return value;
}

/// Nonzero when any lane's predicate is: every lane reads every lane's value, as the vote does in one instruction.
static inline int __any_sync(unsigned int, int predicate)
{
    int any = 0;
    for (int lane = 0; lane < 32; lane++)
    {
        int value = predicate;
        mezo_emulated_exchange(&value, sizeof value, lane);
        any |= value;
    }
    return any != 0;
}

static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }

/// A launch as the C# side describes it: grid, block, dynamic shared bytes.
struct mezo_emulated_shape
{
    unsigned int grid_x, grid_y, grid_z, block_x, block_y, block_z, shared_bytes;
};

/// Runs body(context) as every thread of every block of the launch.
void mezo_emulated_run(const mezo_emulated_shape* shape, void (*body)(void*), void* context);

template <class... A, size_t... I>
static void mezo_emulated_call(void (*kernel)(A...), void** arguments, std::index_sequence<I...>)
{
    kernel(*(A*)arguments[I]...); // each argument sits in the low bytes of an 8-byte slot, as cuLaunchKernel reads it
}

template <class... A>
static void mezo_emulated_launch(void (*kernel)(A...), const mezo_emulated_shape* shape, void** arguments)
{
    struct Call
    {
        void (*kernel)(A...);
        void** arguments;
    } call = { kernel, arguments };
    mezo_emulated_run(shape, [](void* c) {
        auto* call = (Call*)c;
        mezo_emulated_call(call->kernel, call->arguments, std::index_sequence_for<A...>{});
    }, &call);
}

/// A parameter's type as one letter of KernelArgumentKind: pointer p, int i, long long l, unsigned long long u,
/// float f; '?' for anything a launch cannot pass.
template <class T>
constexpr char mezo_emulated_kind()
{
    if constexpr (std::is_pointer_v<T>) return 'p';
    else if constexpr (std::is_same_v<T, float>) return 'f';
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 4) return 'i';
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 8) return std::is_signed_v<T> ? 'l' : 'u';
    else return '?';
}

/// A kernel's parameter list, one letter per parameter.
template <class... A>
static const char* mezo_emulated_signature(void (*)(A...))
{
    static const char kinds[] = { mezo_emulated_kind<A>()..., '\0' };
    return kinds;
}

/// emu_<kernel>(shape, arguments): the entry point the C# emulated runtime calls for one kernel; emu_signature_<kernel>:
/// its parameter list, against which the runtime checks every launch's arguments (cuLaunchKernel cannot).
#define MEZO_EMULATED_KERNEL(name)                                                                                  \
    extern "C" __attribute__((visibility("default"))) void emu_##name(const mezo_emulated_shape* shape, void** arguments) \
    {                                                                                                               \
        mezo_emulated_launch(&name, shape, arguments);                                                              \
    }                                                                                                               \
    extern "C" __attribute__((visibility("default"))) const char* emu_signature_##name()                           \
    {                                                                                                               \
        return mezo_emulated_signature(&name);                                                                      \
    }
