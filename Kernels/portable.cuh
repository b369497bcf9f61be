// portable.cuh — the few primitives that let pure device functions compile unchanged as CUDA (NVRTC) and as host C++ (g++).
#pragma once

// Everything here is plain IEEE arithmetic, integer operations and bit casts. On the host, compile with
// -ffp-contract=off (and on the device with --fmad=false where bit-exactness matters) so that a*b+c is never fused
// behind our back: every fused multiply-add below is an explicit mezo_fma/mezo_fmaf.

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define MEZO_DEVICE_COMPILE 1
#define MEZO_FN __device__ __forceinline__
#define MEZO_METHOD __device__ __forceinline__
#define MEZO_UNROLL _Pragma("unroll")
#else
#define MEZO_FN static inline
#define MEZO_METHOD inline
#define MEZO_UNROLL
// CUDA's built-in vector types, for the host build of the same code.
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { unsigned int x, y; };
struct alignas(16) uint4 { unsigned int x, y, z, w; };
#endif

typedef unsigned short mezo_u16;
typedef unsigned int mezo_u32;
typedef unsigned long long mezo_u64;
typedef long long mezo_i64;

MEZO_FN float mezo_float_from_bits(mezo_u32 bits)
{
#ifdef MEZO_DEVICE_COMPILE
    return __uint_as_float(bits);
#else
    float value;
    __builtin_memcpy(&value, &bits, sizeof value);
    return value;
#endif
}

MEZO_FN mezo_u32 mezo_float_bits(float value)
{
#ifdef MEZO_DEVICE_COMPILE
    return __float_as_uint(value);
#else
    mezo_u32 bits;
    __builtin_memcpy(&bits, &value, sizeof bits);
    return bits;
#endif
}

MEZO_FN double mezo_double_from_bits(mezo_u64 bits)
{
#ifdef MEZO_DEVICE_COMPILE
    return __longlong_as_double((long long)bits);
#else
    double value;
    __builtin_memcpy(&value, &bits, sizeof value);
    return value;
#endif
}

MEZO_FN mezo_u64 mezo_double_bits(double value)
{
#ifdef MEZO_DEVICE_COMPILE
    return (mezo_u64)__double_as_longlong(value);
#else
    mezo_u64 bits;
    __builtin_memcpy(&bits, &value, sizeof bits);
    return bits;
#endif
}

// Correctly rounded on both sides: CUDA's fma/sqrt (and float sqrt/division with the default --prec-sqrt/--prec-div)
// are IEEE operations, as are the host builtins (SSE sqrt, libm fma).
MEZO_FN double mezo_fma(double a, double b, double c)
{
#ifdef MEZO_DEVICE_COMPILE
    return fma(a, b, c);
#else
    return __builtin_fma(a, b, c);
#endif
}

MEZO_FN float mezo_fmaf(float a, float b, float c)
{
#ifdef MEZO_DEVICE_COMPILE
    return fmaf(a, b, c);
#else
    return __builtin_fmaf(a, b, c);
#endif
}

MEZO_FN double mezo_sqrt(double x)
{
#ifdef MEZO_DEVICE_COMPILE
    return sqrt(x);
#else
    return __builtin_sqrt(x);
#endif
}

MEZO_FN float mezo_sqrtf(float x)
{
#ifdef MEZO_DEVICE_COMPILE
    return sqrtf(x);
#else
    return __builtin_sqrtf(x);
#endif
}

/// Number of leading zero bits of a nonzero 32-bit word.
MEZO_FN int mezo_clz(mezo_u32 x)
{
#ifdef MEZO_DEVICE_COMPILE
    return __clz((int)x);
#else
    return __builtin_clz(x);
#endif
}
