// perturbation.cuh — one thread's share of a MeZO perturbation: one Philox block, four elements, one read and one
// write each. Host and device alike, so the host tests run the very code the kernel runs.
#pragma once
#include "portable.cuh"
#include "numeric.cuh"
#include "philox.cuh"

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

// The two updates, each float32 operation spelled out (no fused multiply-add: compile with --fmad=false /
// -ffp-contract=off) exactly as MeZO.Engine.Backends.Cpu.CpuPerturbation evaluates them, so the results agree bit
// for bit whenever z does.

struct mezo_add_scaled
{
    float scale;
    MEZO_METHOD float operator()(float w, float z) const { return w + scale * z; }
};

/// w = (w + eps·z)·decay - step·z with decay = 1 - lr·wd and step = lr·g computed once per call on the host.
struct mezo_restore_update
{
    float eps, decay, step;
    MEZO_METHOD float operator()(float w, float z) const { return (w + eps * z) * decay - step * z; }
};

// Storage: how four consecutive weights are read as float32 and written back rounded, one vector access each when
// the four are aligned.

struct mezo_storage_f32
{
    typedef float element;
    static MEZO_METHOD float widen(element e) { return e; }
    static MEZO_METHOD element narrow(float v) { return v; }
    static MEZO_METHOD void load4(const element* p, float v[4])
    {
        float4 q = *(const float4*)p;
        v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
    }
    static MEZO_METHOD void store4(element* p, const float v[4])
    {
        float4 q;
        q.x = v[0]; q.y = v[1]; q.z = v[2]; q.w = v[3];
        *(float4*)p = q;
    }
};

/// Four 16-bit elements as one 8-byte access, element 0 in the low half of the first word (little-endian).
template <class Convert>
struct mezo_storage_16
{
    typedef mezo_u16 element;
    static MEZO_METHOD float widen(element e) { return Convert::to_float(e); }
    static MEZO_METHOD element narrow(float v) { return Convert::from_float(v); }
    static MEZO_METHOD void load4(const element* p, float v[4])
    {
        uint2 q = *(const uint2*)p;
        v[0] = widen((mezo_u16)(q.x & 0xFFFFu));
        v[1] = widen((mezo_u16)(q.x >> 16));
        v[2] = widen((mezo_u16)(q.y & 0xFFFFu));
        v[3] = widen((mezo_u16)(q.y >> 16));
    }
    static MEZO_METHOD void store4(element* p, const float v[4])
    {
        uint2 q;
        q.x = (mezo_u32)narrow(v[0]) | ((mezo_u32)narrow(v[1]) << 16);
        q.y = (mezo_u32)narrow(v[2]) | ((mezo_u32)narrow(v[3]) << 16);
        *(uint2*)p = q;
    }
};

struct mezo_bf16_convert
{
    static MEZO_METHOD float to_float(mezo_u16 e) { return mezo_bf16_to_float(e); }
    static MEZO_METHOD mezo_u16 from_float(float v) { return mezo_float_to_bf16(v); }
};

struct mezo_f16_convert
{
    static MEZO_METHOD float to_float(mezo_u16 e) { return mezo_half_to_float(e); }
    static MEZO_METHOD mezo_u16 from_float(float v) { return mezo_float_to_half(v); }
};

typedef mezo_storage_16<mezo_bf16_convert> mezo_storage_bf16;
typedef mezo_storage_16<mezo_f16_convert> mezo_storage_f16;

/// Applies update(w, z) to the tensor's elements in z-stream block `block`. `vectorized` says that every full block's
/// four elements are aligned for one vector access (the launcher checks the address); partial blocks go one by one.
template <class Storage, bool Fast, class Update>
MEZO_FN void mezo_perturb_block(typename Storage::element* w, mezo_u64 n, mezo_u64 first, mezo_u64 seed, mezo_u64 block,
                                bool vectorized, Update update)
{
    float z[4];
    mezo_noise_block<Fast>(seed, block, z);
    mezo_i64 i0 = mezo_block_first_local(first, block);
    if (vectorized && i0 >= 0 && i0 + 4 <= (mezo_i64)n)
    {
        float v[4];
        Storage::load4(w + i0, v);
        MEZO_UNROLL
        for (int l = 0; l < 4; l++) v[l] = update(v[l], z[l]);
        Storage::store4(w + i0, v);
        return;
    }
    MEZO_UNROLL
    for (int l = 0; l < 4; l++)
    {
        mezo_i64 i = i0 + l;
        if (i >= 0 && i < (mezo_i64)n) w[i] = Storage::narrow(update(Storage::widen(w[i]), z[l]));
    }
}
