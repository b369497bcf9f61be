// mma.cuh — the warp-level tensor-core product D += A·B for one m16n8k16 tile, bf16 or f16 inputs, f32 accumulate.
#pragma once
#include "portable.cuh"

// Fragments (PTX ISA, "Matrix Fragments for mma.m16n8k16"), with g = lane / 4 and c = lane % 4; a 32-bit register
// holds two 16-bit elements, the lower column (A) or row (B) in its low half:
//   A (16×16, row-major): a0 = A[g][2c..2c+1], a1 = A[g+8][2c..], a2 = A[g][2c+8..], a3 = A[g+8][2c+8..]
//   B (16×8, k × n):      b0 = B[2c..2c+1][g],  b1 = B[2c+8..2c+9][g]
//   D (16×8, f32):        d0, d1 = D[g][2c, 2c+1],  d2, d3 = D[g+8][2c, 2c+1]
// The host build (kernel emulation in the tests) supplies mezo_emulated_mma with the same fragment layout.

#define MEZO_MMA_BF16 0
#define MEZO_MMA_F16 1

#ifndef MEZO_DEVICE_COMPILE
void mezo_emulated_mma(int kind, float d[4], const mezo_u32 a[4], const mezo_u32 b[2]);
#endif

/// Two adjacent 16-bit elements of a shared row as one fragment register (the lower index in the low half).
MEZO_FN mezo_u32 mezo_pair(const mezo_u16* p)
{
    return (mezo_u32)p[0] | ((mezo_u32)p[1] << 16);
}

template <int Kind>
MEZO_FN void mezo_mma_16816(float d[4], const mezo_u32 a[4], const mezo_u32 b[2])
{
#ifdef MEZO_DEVICE_COMPILE
#if __CUDA_ARCH__ >= 800
    if (Kind == MEZO_MMA_BF16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap(); // the launcher only selects tensor-core kernels on compute capability 8.0 and above
#endif
#else
    mezo_emulated_mma(Kind, d, a, b);
#endif
}
