// device_functions.cpp — the host (g++) build of the pure device functions in Kernels/*.cuh, exported with C linkage
// for DeviceFunctionTests, which compare them bit for bit with their C# twins. Array entry points keep the
// exhaustive sweeps (2^24 inputs) to one call each.
#include "numeric.cuh"
#include "philox.cuh"
#include "perturbation.cuh"
#include "stochastic_rounding.cuh"

#define EXPORT extern "C" __attribute__((visibility("default")))

EXPORT void host_philox(mezo_u32 c0, mezo_u32 c1, mezo_u32 c2, mezo_u32 c3, mezo_u32 k0, mezo_u32 k1, mezo_u32* out)
{
    mezo_philox_block x = mezo_philox4x32_10(c0, c1, c2, c3, k0, k1);
    out[0] = x.x0;
    out[1] = x.x1;
    out[2] = x.x2;
    out[3] = x.x3;
}

EXPORT void host_uniform(const mezo_u32* x, double* u, long long n)
{
    for (long long i = 0; i < n; i++) u[i] = mezo_uniform(x[i]);
}

EXPORT void host_log_exact(const double* u, double* out, long long n)
{
    for (long long i = 0; i < n; i++) out[i] = mezo_log_exact(u[i]);
}

EXPORT void host_sincos_exact(const mezo_u32* x, double* sin_out, double* cos_out, long long n)
{
    for (long long i = 0; i < n; i++) mezo_sincos_two_pi_exact(x[i], &sin_out[i], &cos_out[i]);
}

EXPORT void host_log_fast(const mezo_u32* x, float* out, long long n)
{
    for (long long i = 0; i < n; i++) out[i] = mezo_log_uniform_fast(x[i]);
}

EXPORT void host_sincos_fast(const mezo_u32* x, float* sin_out, float* cos_out, long long n)
{
    for (long long i = 0; i < n; i++) mezo_sincos_two_pi_fast(x[i], &sin_out[i], &cos_out[i]);
}

EXPORT void host_box_muller(int fast, mezo_u32 a, mezo_u32 b, float* z)
{
    if (fast) mezo_box_muller_fast(a, b, &z[0], &z[1]);
    else mezo_box_muller_exact(a, b, &z[0], &z[1]);
}

EXPORT void host_z(int fast, mezo_u64 seed, mezo_u64 first, float* z, long long n)
{
    for (long long i = 0; i < n; i++) z[i] = fast ? mezo_z<true>(seed, first + i) : mezo_z<false>(seed, first + i);
}

EXPORT void host_float_to_bf16(const float* in, mezo_u16* out, long long n)
{
    for (long long i = 0; i < n; i++) out[i] = mezo_float_to_bf16(in[i]);
}

EXPORT void host_bf16_to_float(const mezo_u16* in, float* out, long long n)
{
    for (long long i = 0; i < n; i++) out[i] = mezo_bf16_to_float(in[i]);
}

EXPORT void host_float_to_half(const float* in, mezo_u16* out, long long n)
{
    for (long long i = 0; i < n; i++) out[i] = mezo_float_to_half(in[i]);
}

EXPORT void host_half_to_float(const mezo_u16* in, float* out, long long n)
{
    for (long long i = 0; i < n; i++) out[i] = mezo_half_to_float(in[i]);
}

EXPORT unsigned long long host_block_count(mezo_u64 first, mezo_u64 n)
{
    return mezo_block_count(first, n);
}

EXPORT void host_rounding_draws(mezo_u64 seed, mezo_u64 first, mezo_u32* k, long long n)
{
    for (long long i = 0; i < n; i++)
    {
        mezo_u64 index = first + i;
        mezo_philox_block x = mezo_rounding_words(seed, index >> 2);
        mezo_u32 words[4] = { x.x0, x.x1, x.x2, x.x3 };
        k[i] = words[index & 3] >> 8;
    }
}

/// mezo_round_stochastic for dtype 1 (f16) or 2 (bf16): stored[i] and ok[i] = 0 where the bracket includes an infinity.
EXPORT void host_round_stochastic(int dtype, const float* v, const mezo_u32* k, mezo_u16* stored, int* ok, long long n)
{
    for (long long i = 0; i < n; i++)
        ok[i] = dtype == 2 ? mezo_round_stochastic<mezo_bf16_format>(v[i], k[i], &stored[i])
                           : mezo_round_stochastic<mezo_f16_format>(v[i], k[i], &stored[i]);
}

// The copy and update kernels' per-thread bodies, run for each block in turn: dtype 0 f32, 1 f16, 2 bf16 (DType).

template <class Storage, bool Fast>
static void copy_blocks(const void* w, float* destination, mezo_u64 n, mezo_u64 first, mezo_u64 seed, float scale, int vectorized)
{
    mezo_u64 blocks = mezo_block_count(first, n);
    for (mezo_u64 t = 0; t < blocks; t++)
        mezo_perturbed_copy_block<Storage, Fast>((const typename Storage::element*)w, destination, n, first, seed, (first >> 2) + t,
                                                 scale, vectorized != 0);
}

template <bool Fast>
static void copy_typed(int dtype, const void* w, float* destination, mezo_u64 n, mezo_u64 first, mezo_u64 seed, float scale,
                       int vectorized)
{
    switch (dtype)
    {
    case 1: copy_blocks<mezo_storage_f16, Fast>(w, destination, n, first, seed, scale, vectorized); break;
    case 2: copy_blocks<mezo_storage_bf16, Fast>(w, destination, n, first, seed, scale, vectorized); break;
    default: copy_blocks<mezo_storage_f32, Fast>(w, destination, n, first, seed, scale, vectorized); break;
    }
}

EXPORT void host_perturbed_copy(int dtype, int fast, const void* w, float* destination, mezo_u64 n, mezo_u64 first, mezo_u64 seed,
                                float scale, int vectorized)
{
    if (fast) copy_typed<true>(dtype, w, destination, n, first, seed, scale, vectorized);
    else copy_typed<false>(dtype, w, destination, n, first, seed, scale, vectorized);
}

/// The first overflowing element in block order (as one thread would meet them), or -1; its result in *overflow_value.
template <class Storage, bool Fast>
static long long update_blocks(void* w, mezo_u64 n, mezo_u64 first, mezo_u64 seed, float decay, float step, int vectorized,
                               float* overflow_value)
{
    mezo_u64 blocks = mezo_block_count(first, n);
    long long overflow = -1;
    for (mezo_u64 t = 0; t < blocks; t++)
    {
        float value = 0.0f;
        mezo_i64 i = mezo_update_block<Storage, Fast>((typename Storage::element*)w, n, first, seed, (first >> 2) + t, decay, step,
                                                      vectorized != 0, &value);
        if (i >= 0 && overflow < 0)
        {
            overflow = i;
            *overflow_value = value;
        }
    }
    return overflow;
}

template <bool Fast>
static long long update_typed(int dtype, void* w, mezo_u64 n, mezo_u64 first, mezo_u64 seed, float decay, float step, int vectorized,
                              float* overflow_value)
{
    switch (dtype)
    {
    case 1: return update_blocks<mezo_storage_f16, Fast>(w, n, first, seed, decay, step, vectorized, overflow_value);
    case 2: return update_blocks<mezo_storage_bf16, Fast>(w, n, first, seed, decay, step, vectorized, overflow_value);
    default: return update_blocks<mezo_storage_f32, Fast>(w, n, first, seed, decay, step, vectorized, overflow_value);
    }
}

EXPORT long long host_update(int dtype, int fast, void* w, mezo_u64 n, mezo_u64 first, mezo_u64 seed, float decay, float step,
                             int vectorized, float* overflow_value)
{
    return fast ? update_typed<true>(dtype, w, n, first, seed, decay, step, vectorized, overflow_value)
                : update_typed<false>(dtype, w, n, first, seed, decay, step, vectorized, overflow_value);
}
