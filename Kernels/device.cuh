// device.cuh — what every kernel file shares: storage dtypes, warp and block reductions, the fault record.
#pragma once
#include "portable.cuh"
#include "numeric.cuh"

#define MEZO_KERNEL extern "C" __global__

// Storage dtype codes: the values of MeZO.Engine.Tensors.DType, passed as kernel arguments.
#define MEZO_F32 0
#define MEZO_F16 1
#define MEZO_BF16 2
#define MEZO_NO_TENSOR (-1)

// What a product kernel does with x·Wᵀ + bias before its one rounding (CudaLinear's Epilogue* codes): store it, take
// its ReLU, or add it to what the output holds (a residual add).
#define MEZO_EPILOGUE_NONE 0
#define MEZO_EPILOGUE_RELU 1
#define MEZO_EPILOGUE_ACCUMULATE 2

// Codes of the fault record (MeZO.Engine.Backends.Cuda.DeviceFault): an op that finds a bad index in device data, or a result
// it cannot store, cannot throw, so the first one records {code, position, value, limit} and the backend raises it at
// the next synchronisation.
#define MEZO_FAULT_EMBEDDING_ID 1
#define MEZO_FAULT_GATHER_ROW 2
#define MEZO_FAULT_TARGET 3
#define MEZO_FAULT_UPDATE_OVERFLOW 4 // position: the element; value: its result's float32 bits; limit: the tensor's subject number
#define MEZO_FAULT_EMBEDDING_BACKWARD_ID 5
#define MEZO_FAULT_GATHER_ROWS_BACKWARD_ROW 6
#define MEZO_FAULT_TARGET_BACKWARD 7

#define MEZO_FULL_MASK 0xFFFFFFFFu

// A kernel's dynamic shared memory (the launch's third parameter). The host emulation used by the tests hands out
// a per-block buffer instead.
#ifdef MEZO_EMULATION
#define MEZO_DYNAMIC_SHARED(type, name) type* name = (type*)mezo_emulated_dynamic_shared()
#else
#define MEZO_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif
#define MEZO_INFINITY mezo_float_from_bits(0x7F800000u) // no CUDA header, so no INFINITY macro

/// Element i of a float tensor of any storage dtype, widened to float32.
__device__ __forceinline__ float mezo_load(const void* p, int dtype, mezo_i64 i)
{
    switch (dtype)
    {
    case MEZO_F16: return mezo_half_to_float(((const mezo_u16*)p)[i]);
    case MEZO_BF16: return mezo_bf16_to_float(((const mezo_u16*)p)[i]);
    default: return ((const float*)p)[i];
    }
}

/// Stores a float32 into element i of a tensor of any storage dtype, rounded to nearest even.
__device__ __forceinline__ void mezo_store(void* p, int dtype, mezo_i64 i, float value)
{
    switch (dtype)
    {
    case MEZO_F16: ((mezo_u16*)p)[i] = mezo_float_to_half(value); break;
    case MEZO_BF16: ((mezo_u16*)p)[i] = mezo_float_to_bf16(value); break;
    default: ((float*)p)[i] = value; break;
    }
}

/// Bytes of one element of a float storage dtype.
__device__ __forceinline__ int mezo_dtype_bytes(int dtype)
{
    return dtype == MEZO_F32 ? 4 : 2;
}

/// A read-only view of a float tensor of any storage dtype, indexed like a float array (each element widened exactly):
/// the statistics helpers that norm.cuh and the softmax share take either this or a plain float pointer.
struct mezo_floats
{
    const void* data;
    int dtype;

    __device__ __forceinline__ float operator[](mezo_i64 i) const { return mezo_load(data, dtype, i); }
};

/// The view of elements [offset, ...) of a float tensor of storage dtype `dtype`.
__device__ __forceinline__ mezo_floats mezo_floats_at(const void* p, int dtype, mezo_i64 offset)
{
    return {(const char*)p + offset * mezo_dtype_bytes(dtype), dtype};
}

/// Copies element j of `from` into element i of `to`, both of `bytes` (4 or 2) bytes each: a copy moves the bits
/// (NaN payloads included), it never widens or rounds.
__device__ __forceinline__ void mezo_copy_element(void* to, mezo_i64 i, const void* from, mezo_i64 j, int bytes)
{
    if (bytes == 4) ((mezo_u32*)to)[i] = ((const mezo_u32*)from)[j];
    else ((mezo_u16*)to)[i] = ((const mezo_u16*)from)[j];
}

/// Records the first fault of a run of ops; later ones are dropped (the first is the one to fix).
__device__ __forceinline__ void mezo_report_fault(int* fault, int code, int position, int value, int limit)
{
    if (atomicCAS(fault, 0, code) == 0)
    {
        fault[1] = position;
        fault[2] = value;
        fault[3] = limit;
    }
}

/// The table row of embedding output row n, or -1 when ids[n] lies outside the table (then thread 0 records the fault
/// and the row is left untouched): the plain and the perturbed gather check ids alike.
__device__ __forceinline__ int mezo_embedding_id(const int* ids, int n, int vocab, int* fault)
{
    int id = ids[n];
    if ((unsigned)id < (unsigned)vocab) return id;
    if (threadIdx.x == 0) mezo_report_fault(fault, MEZO_FAULT_EMBEDDING_ID, n, id, vocab);
    return -1;
}

// Reductions. Every lane of the warp (and every thread of the block) must take part: kernels launch whole warps.

__device__ __forceinline__ float mezo_warp_sum(float v)
{
    MEZO_UNROLL
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(MEZO_FULL_MASK, v, offset);
    return v;
}

/// max(a, b) that returns NaN when either is NaN, as the CPU backend's MathF.Max and TensorPrimitives.Max do. fmaxf
/// returns the other operand instead (IEEE maxNum), which would turn a broken forward pass into a finite one.
__device__ __forceinline__ float mezo_max(float a, float b)
{
    return (a != a || b != b) ? a + b : fmaxf(a, b);
}

__device__ __forceinline__ float mezo_warp_max(float v)
{
    MEZO_UNROLL
    for (int offset = 16; offset > 0; offset >>= 1) v = mezo_max(v, __shfl_xor_sync(MEZO_FULL_MASK, v, offset));
    return v;
}

/// The sum over the block, returned to every thread. scratch holds 32 floats of shared memory; the leading barrier
/// lets one scratch serve consecutive reductions.
__device__ __forceinline__ float mezo_block_sum(float v, float* scratch)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = mezo_warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return mezo_warp_sum(lane < warps ? scratch[lane] : 0.0f); // each warp adds the partials itself: no broadcast
}

/// The maximum over the block (NaN when any value is NaN), returned to every thread; scratch as mezo_block_sum's.
__device__ __forceinline__ float mezo_block_max(float v, float* scratch)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = mezo_warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    return mezo_warp_max(lane < warps ? scratch[lane] : -MEZO_INFINITY);
}

/// A product's float32 result after its epilogue, the value the kernel then rounds into output[i].
MEZO_FN float mezo_product_epilogue(float value, int epilogue, const void* output, int dtype, mezo_i64 i)
{
    if (epilogue == MEZO_EPILOGUE_RELU) return mezo_max(value, 0.0f);
    if (epilogue == MEZO_EPILOGUE_ACCUMULATE) return value + mezo_load(output, dtype, i);
    return value;
}
