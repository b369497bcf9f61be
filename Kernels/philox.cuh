// philox.cuh — the MeZO perturbation z of DESIGN §3: Philox4x32-10 blocks and Box–Muller, host and device alike.
#pragma once
#include "portable.cuh"

// Twins of MeZO.Engine.Noise.{Philox4x32, BoxMuller, GaussianNoise}. Element i of a step's z stream is lane i & 3 of
// the Philox block i >> 2 keyed by the step seed. Two Box–Muller variants turn a block's four words into four z:
//  * exact: the C#'s double-precision sequence of correctly rounded operations (its own ln and sincos, no libm), so
//    z is bit-identical to the CPU's. Costs about 30 double operations per element: fine where FP64 is fast
//    (A100, H100, H200: half the FP32 rate), slow on consumer GPUs (1/64).
//  * fast: the same exact integer range reduction, then float32 polynomials; within 1e-6 of the exact z (DESIGN
//    allows 1e-5) and still a fixed sequence of IEEE float operations, so the host build of this file reproduces the
//    GPU's bits too.

#define MEZO_PHILOX_M0 0xD2511F53u
#define MEZO_PHILOX_M1 0xCD9E8D57u
#define MEZO_PHILOX_W0 0x9E3779B9u
#define MEZO_PHILOX_W1 0xBB67AE85u

struct mezo_philox_block
{
    mezo_u32 x0, x1, x2, x3;
};

/// Philox4x32-10: ten rounds of two 32x32->64 products, the key bumped by the Weyl constants before rounds 2..10.
MEZO_FN mezo_philox_block mezo_philox4x32_10(mezo_u32 c0, mezo_u32 c1, mezo_u32 c2, mezo_u32 c3, mezo_u32 k0, mezo_u32 k1)
{
    MEZO_UNROLL
    for (int round = 0; round < 10; ++round)
    {
        if (round > 0)
        {
            k0 += MEZO_PHILOX_W0;
            k1 += MEZO_PHILOX_W1;
        }
        mezo_u64 product0 = (mezo_u64)MEZO_PHILOX_M0 * c0; // one mul.wide.u32 on the GPU
        mezo_u64 product1 = (mezo_u64)MEZO_PHILOX_M1 * c2;
        mezo_u32 hi0 = (mezo_u32)(product0 >> 32), lo0 = (mezo_u32)product0;
        mezo_u32 hi1 = (mezo_u32)(product1 >> 32), lo1 = (mezo_u32)product1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    mezo_philox_block out = { c0, c1, c2, c3 };
    return out;
}

/// The Philox block of z-stream block b under a step seed: counter (lo32(b), hi32(b), 0, 0), key (lo32(s), hi32(s)).
MEZO_FN mezo_philox_block mezo_noise_words(mezo_u64 seed, mezo_u64 block)
{
    return mezo_philox4x32_10((mezo_u32)block, (mezo_u32)(block >> 32), 0u, 0u, (mezo_u32)seed, (mezo_u32)(seed >> 32));
}

// ---- exact: double precision, the C#'s operations one for one (MeZO.Engine.Noise.BoxMuller) ----

#define MEZO_TWO_POW_MINUS_24 (1.0 / 16777216.0)
#define MEZO_TWO_POW_MINUS_25 (0.5 / 16777216.0)
#define MEZO_LN2_HIGH 0.6931471803691238       // ln 2 truncated to 32 bits: e * MEZO_LN2_HIGH is exact for |e| <= 25
#define MEZO_LN2_LOW 1.9082149292705877e-10
#define MEZO_SQRT2 1.4142135623730951
#define MEZO_QUARTER_PI_GRID_STEP (3.141592653589793 / 4 / 4194304.0) // pi/4 * 2^-22

/// u = (x >> 8)·2^-24 + 2^-25, an odd multiple of 2^-25 in (0, 1): exact in double.
MEZO_FN double mezo_uniform(mezo_u32 x)
{
    return (double)(x >> 8) * MEZO_TWO_POW_MINUS_24 + MEZO_TWO_POW_MINUS_25;
}

/// ln u = e·ln 2 + 2·atanh((m - 1)/(m + 1)) with u = 2^e·m, m in (sqrt2/2, sqrt2]; the Taylor series of atanh to s^21.
MEZO_FN double mezo_log_exact(double u)
{
    mezo_u64 bits = mezo_double_bits(u);
    mezo_u64 biased_exponent = bits >> 52;
    double m = mezo_double_from_bits((bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
    if (m > MEZO_SQRT2)
    {
        m *= 0.5;
        biased_exponent++;
    }
    double e = (double)((int)biased_exponent - 1023);
    double f = m - 1.0;
    double s = f / (2.0 + f);
    double two_s = s + s;
    double w = s * s;
    double p = mezo_fma(w, 1.0 / 21, 1.0 / 19);
    p = mezo_fma(w, p, 1.0 / 17);
    p = mezo_fma(w, p, 1.0 / 15);
    p = mezo_fma(w, p, 1.0 / 13);
    p = mezo_fma(w, p, 1.0 / 11);
    p = mezo_fma(w, p, 1.0 / 9);
    p = mezo_fma(w, p, 1.0 / 7);
    p = mezo_fma(w, p, 1.0 / 5);
    p = mezo_fma(w, p, 1.0 / 3);
    double log_m = mezo_fma(two_s * w, p, two_s);
    return e * MEZO_LN2_HIGH + mezo_fma(e, MEZO_LN2_LOW, log_m);
}

/// The octant of 2πu and the reduced angle's grid index, from x's bits alone: 8u = (2k+1)·2^-22 with k = x >> 8,
/// the octant is x's top three bits, and in odd octants the angle is measured from the octant's far end.
MEZO_FN mezo_u32 mezo_octant_grid_index(mezo_u32 x)
{
    mezo_u32 j = (x >> 8) & 0x1FFFFFu;
    return ((x >> 29) & 1u) != 0 ? j ^ 0x1FFFFFu : j;
}

/// Applies the octant: octants 1, 2, 5, 6 swap sine and cosine; the sine is negative in 4..7, the cosine in 2..5.
MEZO_FN void mezo_octant_signs(mezo_u32 octant, bool* swap, bool* sin_negative, bool* cos_negative)
{
    *swap = (((octant >> 1) ^ octant) & 1u) != 0;
    *sin_negative = (octant & 4u) != 0;
    *cos_negative = (((octant >> 2) ^ (octant >> 1)) & 1u) != 0;
}

/// (sin 2πu, cos 2πu) for u = mezo_uniform(x), Taylor series on the reduced angle θ in (0, π/4).
MEZO_FN void mezo_sincos_two_pi_exact(mezo_u32 x, double* sin_out, double* cos_out)
{
    mezo_u32 j = mezo_octant_grid_index(x);
    double theta = (double)(2u * j + 1u) * MEZO_QUARTER_PI_GRID_STEP;
    double w = theta * theta;
    double ps = mezo_fma(w, 1.0 / 355687428096000.0, -1.0 / 1307674368000.0);
    ps = mezo_fma(w, ps, 1.0 / 6227020800.0);
    ps = mezo_fma(w, ps, -1.0 / 39916800);
    ps = mezo_fma(w, ps, 1.0 / 362880);
    ps = mezo_fma(w, ps, -1.0 / 5040);
    ps = mezo_fma(w, ps, 1.0 / 120);
    ps = mezo_fma(w, ps, -1.0 / 6);
    double sin_theta = mezo_fma(theta * w, ps, theta);
    double pc = mezo_fma(w, 1.0 / 20922789888000.0, -1.0 / 87178291200.0);
    pc = mezo_fma(w, pc, 1.0 / 479001600);
    pc = mezo_fma(w, pc, -1.0 / 3628800);
    pc = mezo_fma(w, pc, 1.0 / 40320);
    pc = mezo_fma(w, pc, -1.0 / 720);
    pc = mezo_fma(w, pc, 1.0 / 24);
    pc = mezo_fma(w, pc, -1.0 / 2);
    double cos_theta = mezo_fma(w, pc, 1.0);
    bool swap, sin_negative, cos_negative;
    mezo_octant_signs(x >> 29, &swap, &sin_negative, &cos_negative);
    double s = swap ? cos_theta : sin_theta;
    double c = swap ? sin_theta : cos_theta;
    *sin_out = sin_negative ? -s : s;
    *cos_out = cos_negative ? -c : c;
}

/// (z0, z1) = r·(cos 2πu_b, sin 2πu_b), r = sqrt(-2 ln u_a), in double, each rounded once to float.
MEZO_FN void mezo_box_muller_exact(mezo_u32 a, mezo_u32 b, float* z0, float* z1)
{
    double r = mezo_sqrt(-2.0 * mezo_log_exact(mezo_uniform(a)));
    double s, c;
    mezo_sincos_two_pi_exact(b, &s, &c);
    *z0 = (float)(r * c);
    *z1 = (float)(r * s);
}

// ---- fast: float32 after an exact integer range reduction ----

#define MEZO_LN2_HIGH_F 0.693145751953125f   // 0x3F317200: 16 significant bits, so e * it is exact for |e| <= 25
#define MEZO_LN2_LOW_F 1.42860682e-06f       // ln 2 - MEZO_LN2_HIGH_F
#define MEZO_QUARTER_PI_GRID_STEP_F (0.785398163397448f / 4194304.0f) // float(pi/4) * 2^-22, the scaling exact

/// ln u for u = mezo_uniform(x) = n·2^-25 (n = 2k+1 odd, 25 bits). The reduction u = 2^e·m, m in (sqrt2/2, sqrt2], is
/// done on the integer n: m - 1 and m + 1 are the exact integers n - P and n + P over P = 2^(25+e), so u near 1
/// (where r = sqrt(-2 ln u) is most sensitive) keeps its full relative accuracy. atanh's series to s^11 in float.
MEZO_FN float mezo_log_uniform_fast(mezo_u32 x)
{
    mezo_u32 n = ((x >> 8) << 1) | 1u;
    int length = 32 - mezo_clz(n);              // n in [2^(length-1), 2^length)
    // m = n / 2^(length-1) lies in [1, 2); above sqrt2 take m / 2 instead: n^2 > 2^(2·length - 1) decides exactly.
    bool above = (mezo_u64)n * n > (1ull << (2 * length - 1));
    int p_bits = above ? length : length - 1;    // P = 2^p_bits, u = 2^(p_bits - 25)·(n / P)
    mezo_i64 p = (mezo_i64)1 << p_bits;
    float s = (float)((mezo_i64)n - p) / (float)((mezo_i64)n + p);
    float w = s * s;
    float series = mezo_fmaf(w, 1.0f / 11, 1.0f / 9);
    series = mezo_fmaf(w, series, 1.0f / 7);
    series = mezo_fmaf(w, series, 1.0f / 5);
    series = mezo_fmaf(w, series, 1.0f / 3);
    float two_s = s + s;
    float log_m = mezo_fmaf(two_s * w, series, two_s);
    float e = (float)(p_bits - 25);
    return mezo_fmaf(e, MEZO_LN2_HIGH_F, mezo_fmaf(e, MEZO_LN2_LOW_F, log_m));
}

/// (sin 2πu, cos 2πu) in float: the exact octant reduction, then Taylor series to θ^11 and θ^10 on θ in (0, π/4).
MEZO_FN void mezo_sincos_two_pi_fast(mezo_u32 x, float* sin_out, float* cos_out)
{
    mezo_u32 j = mezo_octant_grid_index(x);
    float theta = (float)(2u * j + 1u) * MEZO_QUARTER_PI_GRID_STEP_F;
    float w = theta * theta;
    float ps = mezo_fmaf(w, -1.0f / 39916800, 1.0f / 362880);
    ps = mezo_fmaf(w, ps, -1.0f / 5040);
    ps = mezo_fmaf(w, ps, 1.0f / 120);
    ps = mezo_fmaf(w, ps, -1.0f / 6);
    float sin_theta = mezo_fmaf(theta * w, ps, theta);
    float pc = mezo_fmaf(w, -1.0f / 3628800, 1.0f / 40320);
    pc = mezo_fmaf(w, pc, -1.0f / 720);
    pc = mezo_fmaf(w, pc, 1.0f / 24);
    pc = mezo_fmaf(w, pc, -1.0f / 2);
    float cos_theta = mezo_fmaf(w, pc, 1.0f);
    bool swap, sin_negative, cos_negative;
    mezo_octant_signs(x >> 29, &swap, &sin_negative, &cos_negative);
    float s = swap ? cos_theta : sin_theta;
    float c = swap ? sin_theta : cos_theta;
    *sin_out = sin_negative ? -s : s;
    *cos_out = cos_negative ? -c : c;
}

MEZO_FN void mezo_box_muller_fast(mezo_u32 a, mezo_u32 b, float* z0, float* z1)
{
    float r = mezo_sqrtf(-2.0f * mezo_log_uniform_fast(a));
    float s, c;
    mezo_sincos_two_pi_fast(b, &s, &c);
    *z0 = r * c;
    *z1 = r * s;
}

/// The four z of z-stream block b: z[l] is element 4b + l.
template <bool Fast>
MEZO_FN void mezo_noise_block(mezo_u64 seed, mezo_u64 block, float z[4])
{
    mezo_philox_block x = mezo_noise_words(seed, block);
    if (Fast)
    {
        mezo_box_muller_fast(x.x0, x.x1, &z[0], &z[1]);
        mezo_box_muller_fast(x.x2, x.x3, &z[2], &z[3]);
    }
    else
    {
        mezo_box_muller_exact(x.x0, x.x1, &z[0], &z[1]);
        mezo_box_muller_exact(x.x2, x.x3, &z[2], &z[3]);
    }
}

/// z of one global element index (the twin of GaussianNoise.Z).
template <bool Fast>
MEZO_FN float mezo_z(mezo_u64 seed, mezo_u64 index)
{
    float z[4];
    mezo_noise_block<Fast>(seed, index >> 2, z);
    return z[index & 3];
}
