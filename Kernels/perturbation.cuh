// perturbation.cuh — one thread's share of a MeZO pass over a weight (a perturbed read or the update): one Philox
// block, four elements. Host and device alike, so the host tests run the very code the kernels run.
#pragma once
#include "portable.cuh"
#include "numeric.cuh"
#include "philox.cuh"
#include "stochastic_rounding.cuh"

// Index math. A tensor of n elements occupies global z indices [first, first + n); z-stream block b covers global
// indices [4b, 4b + 4), i.e. local indices [4b - first, 4b - first + 4), of which those inside [0, n) are the
// tensor's. The first and last blocks may be partial, since first need not be a multiple of 4.

MEZO_FN mezo_u64 mezo_block_count(mezo_u64 first, mezo_u64 n)
{
    return n == 0 ? 0 : ((first + n - 1) >> 2) - (first >> 2) + 1;
}

MEZO_FN mezo_i64 mezo_block_first_local(mezo_u64 first, mezo_u64 block)
{
    return (mezo_i64)(block * 4 - first); // -3 .. -1 for a first block that starts before the tensor
}

// Storage: four consecutive weights as stored, one vector access when the four are aligned; widening to float32,
// and the update's rounding back (stochastic for 16 bits, DESIGN §3).

struct mezo_storage_f32
{
    typedef float element;
    static constexpr bool stochastic = false;
    static MEZO_METHOD float widen(element e) { return e; }
    /// float32 storage keeps the update as computed.
    static MEZO_METHOD bool round(float v, mezo_u32, element* e)
    {
        *e = v;
        return true;
    }
    static MEZO_METHOD void load4(const element* p, element e[4])
    {
        float4 q = *(const float4*)p;
        e[0] = q.x; e[1] = q.y; e[2] = q.z; e[3] = q.w;
    }
    static MEZO_METHOD void store4(element* p, const element e[4])
    {
        float4 q;
        q.x = e[0]; q.y = e[1]; q.z = e[2]; q.w = e[3];
        *(float4*)p = q;
    }
};

/// Four 16-bit elements as one 8-byte access, element 0 in the low half of the first word (little-endian).
template <class Format>
struct mezo_storage_16
{
    typedef mezo_u16 element;
    static constexpr bool stochastic = true;
    static MEZO_METHOD float widen(element e) { return Format::to_float(e); }
    static MEZO_METHOD bool round(float v, mezo_u32 k, element* e) { return mezo_round_stochastic<Format>(v, k, e); }
    static MEZO_METHOD element nearest(float v) { return Format::nearest(v); }
    static MEZO_METHOD void load4(const element* p, element e[4])
    {
        uint2 q = *(const uint2*)p;
        e[0] = (mezo_u16)(q.x & 0xFFFFu);
        e[1] = (mezo_u16)(q.x >> 16);
        e[2] = (mezo_u16)(q.y & 0xFFFFu);
        e[3] = (mezo_u16)(q.y >> 16);
    }
    static MEZO_METHOD void store4(element* p, const element e[4])
    {
        uint2 q;
        q.x = (mezo_u32)e[0] | ((mezo_u32)e[1] << 16);
        q.y = (mezo_u32)e[2] | ((mezo_u32)e[3] << 16);
        *(uint2*)p = q;
    }
};

typedef mezo_storage_16<mezo_bf16_format> mezo_storage_bf16;
typedef mezo_storage_16<mezo_f16_format> mezo_storage_f16;

// The per-element arithmetic, each float32 operation spelled out (no fused multiply-add: compile with --fmad=false /
// -ffp-contract=off) exactly as MeZO.Engine.Backends.Cpu.CpuPerturbation evaluates it, so the results agree bit for
// bit whenever z does.

/// A perturbed read, fl(w + fl(scale·z)): CpuPerturbation.AddScaled.
MEZO_FN float mezo_perturbed(float w, float scale, float z)
{
    return w + scale * z;
}

/// The update before rounding, fl(fl(w·decay) - fl(step·z)) with decay = 1 - ηλ and step = ηg (UpdateFactors).
MEZO_FN float mezo_updated(float w, float decay, float step, float z)
{
    return w * decay - step * z;
}

/// destination = w + scale·z (float32) for the tensor's elements in z-stream block `block`. `vectorized` says that
/// every full block's four elements are aligned for one vector access in both w and destination (the launcher checks
/// the addresses); partial blocks go one by one.
template <class Storage, bool Fast>
MEZO_FN void mezo_perturbed_copy_block(const typename Storage::element* w, float* destination, mezo_u64 n, mezo_u64 first,
                                       mezo_u64 seed, mezo_u64 block, float scale, bool vectorized)
{
    float z[4];
    mezo_noise_block<Fast>(seed, block, z);
    mezo_i64 i0 = mezo_block_first_local(first, block);
    if (vectorized && i0 >= 0 && i0 + 4 <= (mezo_i64)n)
    {
        typename Storage::element e[4];
        float v[4];
        Storage::load4(w + i0, e);
        MEZO_UNROLL
        for (int l = 0; l < 4; l++) v[l] = mezo_perturbed(Storage::widen(e[l]), scale, z[l]);
        mezo_storage_f32::store4(destination + i0, v);
        return;
    }
    MEZO_UNROLL
    for (int l = 0; l < 4; l++)
    {
        mezo_i64 i = i0 + l;
        if (i >= 0 && i < (mezo_i64)n) destination[i] = mezo_perturbed(Storage::widen(w[i]), scale, z[l]);
    }
}

/// The two lockstep streams' perturbed 16-bit weights for the elements in z-stream block `block`, z made once for both:
/// plus = nearest(fl(w + fl(scale_plus·z))) and minus likewise (IBackend.PerturbedLinear's rule when the activations are
/// in the weight's 16-bit dtype), rounded to nearest even as CpuConvert.Round does. `minus` is null for one stream.
/// `vectorized` as for mezo_perturbed_copy_block, for w and both destinations (all of the weight's dtype).
template <class Storage, bool Fast>
MEZO_FN void mezo_perturbed_pair_block(const typename Storage::element* w, typename Storage::element* plus,
                                       typename Storage::element* minus, mezo_u64 n, mezo_u64 first, mezo_u64 seed,
                                       mezo_u64 block, float scale_plus, float scale_minus, bool vectorized)
{
    float z[4];
    mezo_noise_block<Fast>(seed, block, z);
    mezo_i64 i0 = mezo_block_first_local(first, block);
    typename Storage::element e[4], p[4], m[4];
    bool whole = vectorized && i0 >= 0 && i0 + 4 <= (mezo_i64)n;
    if (whole) Storage::load4(w + i0, e);
    MEZO_UNROLL
    for (int l = 0; l < 4; l++)
    {
        mezo_i64 i = i0 + l;
        if (!whole && (i < 0 || i >= (mezo_i64)n)) continue;
        if (!whole) e[l] = w[i];
        float v = Storage::widen(e[l]);
        p[l] = Storage::nearest(mezo_perturbed(v, scale_plus, z[l]));
        m[l] = Storage::nearest(mezo_perturbed(v, scale_minus, z[l]));
        if (!whole)
        {
            plus[i] = p[l];
            if (minus) minus[i] = m[l];
        }
    }
    if (whole)
    {
        Storage::store4(plus + i0, p);
        if (minus) Storage::store4(minus + i0, m);
    }
}

/// MeZO's update of the tensor's elements in z-stream block `block`, in place: stored as computed (f32) or rounded
/// stochastically with each element's draw (f16, bf16). An element whose result lies beyond the dtype's largest
/// finite value is left as it was and the first such one returned (its local index; its result in *overflow_value);
/// -1 when there is none. `vectorized` as for mezo_perturbed_copy_block, for w.
template <class Storage, bool Fast>
MEZO_FN mezo_i64 mezo_update_block(typename Storage::element* w, mezo_u64 n, mezo_u64 first, mezo_u64 seed, mezo_u64 block,
                                   float decay, float step, bool vectorized, float* overflow_value)
{
    float z[4];
    mezo_noise_block<Fast>(seed, block, z);
    mezo_u32 k[4] = { 0, 0, 0, 0 };
    if constexpr (Storage::stochastic)
    {
        mezo_philox_block x = mezo_rounding_words(seed, block);
        k[0] = x.x0 >> 8;
        k[1] = x.x1 >> 8;
        k[2] = x.x2 >> 8;
        k[3] = x.x3 >> 8;
    }
    mezo_i64 i0 = mezo_block_first_local(first, block), overflow = -1;
    bool whole = vectorized && i0 >= 0 && i0 + 4 <= (mezo_i64)n;
    typename Storage::element e[4];
    if (whole) Storage::load4(w + i0, e);
    MEZO_UNROLL
    for (int l = 0; l < 4; l++)
    {
        mezo_i64 i = i0 + l;
        if (!whole && (i < 0 || i >= (mezo_i64)n)) continue;
        if (!whole) e[l] = w[i];
        float v = mezo_updated(Storage::widen(e[l]), decay, step, z[l]);
        if (Storage::round(v, k[l], &e[l]))
        {
            if (!whole) w[i] = e[l];
        }
        else if (overflow < 0)
        {
            overflow = i;
            *overflow_value = v;
        }
    }
    if (whole) Storage::store4(w + i0, e);
    return overflow;
}
