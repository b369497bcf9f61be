// numeric.cuh — float32 <-> bfloat16 / float16 by bit manipulation, round-to-nearest-even, host and device alike.
#pragma once
#include "portable.cuh"

// These are the twins of MeZO.Engine.Tensors.ScalarConversions (which rounds like PyTorch and .NET): the same bits for
// every input, NaN payloads included, so a weight written on the GPU reads back identically on the CPU. No CUDA header
// is needed, and the same code runs in the host tests that compare it with the C#.

MEZO_FN float mezo_bf16_to_float(mezo_u16 bits)
{
    return mezo_float_from_bits((mezo_u32)bits << 16);
}

MEZO_FN mezo_u16 mezo_float_to_bf16(float value)
{
    mezo_u32 bits = mezo_float_bits(value);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
        return (mezo_u16)((bits >> 16) | 0x0040u); // a NaN stays a NaN, made quiet
    mezo_u32 rounding = 0x7FFFu + ((bits >> 16) & 1u);  // ties go to the even bfloat16
    return (mezo_u16)((bits + rounding) >> 16);
}

MEZO_FN float mezo_half_to_float(mezo_u16 h)
{
    mezo_u32 sign = (mezo_u32)(h & 0x8000u) << 16;
    mezo_u32 exponent = (h >> 10) & 0x1Fu;
    mezo_u32 mantissa = h & 0x3FFu;
    if (exponent == 0x1Fu) // infinity, or a NaN whose payload moves to the top of the float's and is made quiet
        return mezo_float_from_bits(sign | 0x7F800000u | (mantissa != 0 ? 0x400000u | (mantissa << 13) : 0u));
    if (exponent != 0)
        return mezo_float_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    if (mantissa == 0)
        return mezo_float_from_bits(sign);
    // A subnormal half, m·2^-24: normalise the mantissa so its leading one becomes the float's implicit bit.
    int shift = mezo_clz(mantissa) - 21; // brings bit 9 or lower up to bit 10
    mantissa = (mantissa << shift) & 0x3FFu;
    return mezo_float_from_bits(sign | ((mezo_u32)(113 - shift) << 23) | (mantissa << 13));
}

MEZO_FN mezo_u16 mezo_float_to_half(float value)
{
    mezo_u32 bits = mezo_float_bits(value);
    mezo_u16 sign = (mezo_u16)((bits >> 16) & 0x8000u);
    mezo_u32 magnitude = bits & 0x7FFFFFFFu;
    if (magnitude > 0x7F800000u) // NaN: quiet, the payload's top ten bits kept
        return (mezo_u16)(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
    if (magnitude >= 0x477FF000u) // 65520 and above round to infinity (65504 is the largest half)
        return (mezo_u16)(sign | 0x7C00u);
    if (magnitude >= 0x38800000u) // 2^-14 and above: a normal half; rebias the exponent 127 -> 15, round 13 bits away
    {
        mezo_u32 rounded = magnitude + 0xFFFu + ((magnitude >> 13) & 1u);
        return (mezo_u16)(sign | ((rounded - 0x38000000u) >> 13));
    }
    if (magnitude <= 0x33000000u) // at most 2^-25, half the smallest subnormal: rounds to zero (a tie goes to even 0)
        return sign;
    // A subnormal half m·2^-24 with m = round(|value|·2^24): shift the 24-bit significand right and round to even.
    mezo_u32 exponent = magnitude >> 23;                    // 102 .. 112
    mezo_u32 significand = (magnitude & 0x7FFFFFu) | 0x800000u;
    mezo_u32 shift = 126u - exponent;                       // 14 .. 24
    mezo_u32 m = significand >> shift;
    mezo_u32 rest = significand & ((1u << shift) - 1u);
    mezo_u32 half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (m & 1u) != 0)) m++; // may carry into the smallest normal, 0x0400: still right
    return (mezo_u16)(sign | m);
}
