// stochastic_rounding.cuh — MeZO's update rounded stochastically to f16/bf16 storage (DESIGN §3), host and device alike.
#pragma once
#include "portable.cuh"
#include "numeric.cuh"
#include "philox.cuh"

// The twin of MeZO.Engine.Mezo.StochasticRounding, its one scalar definition, operation for operation: with v the
// float32 result and a <= v <= b the adjacent values of the storage dtype, store b when k·2^-24 < (v - a)/(b - a)
// (in double), else a, so the expected stored value is v and an update far below half an ulp still moves the weight
// on average. The double subtraction and division are single IEEE operations on both sides (the GPU's double
// division is correctly rounded; nothing here can contract), so the host tests compare the stored bits exactly.

#define MEZO_ROUNDING_STREAM 1u            // StochasticRounding.Stream: counter word 2
#define MEZO_ROUNDING_DOMAIN 0x726F756Eu   // StochasticRounding.Domain, "roun": counter word 3, apart from z's (0, 0)

/// The rounding draws of z-stream block b: Philox4x32-10 of (lo32(b), hi32(b), 1, "roun") under the step key; the draw
/// of element 4b + l is word l >> 8.
MEZO_FN mezo_philox_block mezo_rounding_words(mezo_u64 seed, mezo_u64 block)
{
    return mezo_philox4x32_10((mezo_u32)block, (mezo_u32)(block >> 32), MEZO_ROUNDING_STREAM, MEZO_ROUNDING_DOMAIN,
                              (mezo_u32)seed, (mezo_u32)(seed >> 32));
}

/// |x|'s bits: for numbers, ordered as |x| is.
MEZO_FN mezo_u32 mezo_magnitude_bits(float x)
{
    return mezo_float_bits(x) & 0x7FFFFFFFu;
}

// The two 16-bit formats: widening, round-to-nearest (which keeps a NaN a quiet NaN) and truncation toward zero.

struct mezo_bf16_format
{
    static MEZO_METHOD float to_float(mezo_u16 bits) { return mezo_bf16_to_float(bits); }
    static MEZO_METHOD mezo_u16 nearest(float v) { return mezo_float_to_bf16(v); }
    /// A bf16 is a float's top half: dropping the low 16 bits truncates toward zero.
    static MEZO_METHOD mezo_u16 toward_zero(float v) { return (mezo_u16)(mezo_float_bits(v) >> 16); }
};

struct mezo_f16_format
{
    static MEZO_METHOD float to_float(mezo_u16 bits) { return mezo_half_to_float(bits); }
    static MEZO_METHOD mezo_u16 nearest(float v) { return mezo_float_to_half(v); }
    /// The nearest half, stepped back one ulp toward zero (one less in sign-magnitude bits) when it lies beyond v: the
    /// exponent range (subnormals, the step to infinity) is the nearest rounding's business.
    static MEZO_METHOD mezo_u16 toward_zero(float v)
    {
        mezo_u16 n = mezo_float_to_half(v);
        float h = mezo_half_to_float(n);
        return mezo_magnitude_bits(h) > mezo_magnitude_bits(v) ? (mezo_u16)(n - 1) : n;
    }
};

MEZO_FN bool mezo_is_infinite(float x)
{
    return mezo_magnitude_bits(x) == 0x7F800000u;
}

/// v rounded to the format with the draw k (0 <= k < 2^24) into *bits. NaN stays NaN (rounded to nearest, made quiet).
/// False, *bits untouched, when the bracket includes an infinity: v beyond the largest finite value, or infinite.
template <class Format>
MEZO_FN bool mezo_round_stochastic(float v, mezo_u32 k, mezo_u16* bits)
{
    if (v != v)
    {
        *bits = Format::nearest(v);
        return true;
    }
    // a <= v <= b: v truncated toward zero and the next value away from zero (one more in sign-magnitude bits),
    // ordered by value; truncation keeps v's sign, so a tiny negative v brackets between -ulp and -0.
    mezo_u16 a = Format::toward_zero(v), b = a;
    if (Format::to_float(a) != v)
    {
        mezo_u16 away = (mezo_u16)(a + 1);
        if (v > 0) b = away;
        else a = away;
    }
    float lower = Format::to_float(a), upper = Format::to_float(b);
    if (mezo_is_infinite(lower) || mezo_is_infinite(upper)) return false;
    if (a == b)
    {
        *bits = a;
        return true;
    }
    double p = ((double)v - lower) / ((double)upper - lower);
    *bits = (double)k * MEZO_TWO_POW_MINUS_24 < p ? b : a;
    return true;
}
