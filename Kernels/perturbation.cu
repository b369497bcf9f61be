// perturbation.cu — MeZO on the weights: perturbed reads (w + scale·z, never stored) and the update, z from the seed.
#include "device.cuh"
#include "perturbation.cuh"

// Compiled with --fmad=false so the float32 arithmetic rounds as the CPU's. Kernels per storage dtype (f32, f16,
// bf16) and z arithmetic (exact: bit-identical to the CPU; fast: float32 Box–Muller).
//
// The copy and the update: one thread per Philox block (four elements: one Philox call feeds all four), a grid-stride
// loop over the tensor's blocks, one read and one write per element.

template <class Storage, bool Fast>
__device__ __forceinline__ void mezo_perturbed_copy_pass(const typename Storage::element* w, float* destination, mezo_u64 n,
                                                         mezo_u64 first, mezo_u64 seed, float scale, int vectorized)
{
    mezo_u64 first_block = first >> 2, blocks = mezo_block_count(first, n);
    for (mezo_u64 t = (mezo_u64)blockIdx.x * blockDim.x + threadIdx.x; t < blocks; t += (mezo_u64)gridDim.x * blockDim.x)
        mezo_perturbed_copy_block<Storage, Fast>(w, destination, n, first, seed, first_block + t, scale, vectorized != 0);
}

/// A result beyond the dtype's largest finite value cannot throw here: the first one is recorded with its element
/// (clamped to int), its float32 bits and the backend's number for the tensor, which names it when the fault is raised.
template <class Storage, bool Fast>
__device__ __forceinline__ void mezo_update_pass(typename Storage::element* w, mezo_u64 n, mezo_u64 first, mezo_u64 seed,
                                                 float decay, float step, int vectorized, int subject, int* fault)
{
    mezo_u64 first_block = first >> 2, blocks = mezo_block_count(first, n);
    for (mezo_u64 t = (mezo_u64)blockIdx.x * blockDim.x + threadIdx.x; t < blocks; t += (mezo_u64)gridDim.x * blockDim.x)
    {
        float value = 0.0f;
        mezo_i64 i = mezo_update_block<Storage, Fast>(w, n, first, seed, first_block + t, decay, step, vectorized != 0, &value);
        if (i >= 0)
            mezo_report_fault(fault, MEZO_FAULT_UPDATE_OVERFLOW, i < 0x7FFFFFFF ? (int)i : 0x7FFFFFFF, (int)mezo_float_bits(value),
                              subject);
    }
}

#define MEZO_PERTURBATION_KERNELS(suffix, Storage, Fast)                                                                \
    MEZO_KERNEL void mezo_perturbed_copy_##suffix(const Storage::element* w, float* destination, mezo_u64 n,            \
                                                  mezo_u64 first, mezo_u64 seed, float scale, int vectorized)           \
    {                                                                                                                   \
        mezo_perturbed_copy_pass<Storage, Fast>(w, destination, n, first, seed, scale, vectorized);                     \
    }                                                                                                                   \
    MEZO_KERNEL void mezo_update_##suffix(Storage::element* w, mezo_u64 n, mezo_u64 first, mezo_u64 seed, float decay,  \
                                          float step, int vectorized, int subject, int* fault)                          \
    {                                                                                                                   \
        mezo_update_pass<Storage, Fast>(w, n, first, seed, decay, step, vectorized, subject, fault);                    \
    }

MEZO_PERTURBATION_KERNELS(f32_exact, mezo_storage_f32, false)
MEZO_PERTURBATION_KERNELS(f16_exact, mezo_storage_f16, false)
MEZO_PERTURBATION_KERNELS(bf16_exact, mezo_storage_bf16, false)
MEZO_PERTURBATION_KERNELS(f32_fast, mezo_storage_f32, true)
MEZO_PERTURBATION_KERNELS(f16_fast, mezo_storage_f16, true)
MEZO_PERTURBATION_KERNELS(bf16_fast, mezo_storage_bf16, true)

// The perturbed pair: a lockstep product's two 16-bit perturbed weights in one pass, so z is made once and each stream's
// product multiplies 16-bit operands (IBackend.PerturbedLinear with activations in the weight's 16-bit dtype).
template <class Storage, bool Fast>
__device__ __forceinline__ void mezo_perturbed_pair_pass(const typename Storage::element* w, typename Storage::element* plus,
                                                         typename Storage::element* minus, mezo_u64 n, mezo_u64 first,
                                                         mezo_u64 seed, float scale_plus, float scale_minus, int vectorized)
{
    mezo_u64 first_block = first >> 2, blocks = mezo_block_count(first, n);
    for (mezo_u64 t = (mezo_u64)blockIdx.x * blockDim.x + threadIdx.x; t < blocks; t += (mezo_u64)gridDim.x * blockDim.x)
        mezo_perturbed_pair_block<Storage, Fast>(w, plus, minus, n, first, seed, first_block + t, scale_plus, scale_minus,
                                                 vectorized != 0);
}

#define MEZO_PERTURBED_PAIR_KERNEL(suffix, Storage, Fast)                                                               \
    MEZO_KERNEL void mezo_perturbed_pair_##suffix(const Storage::element* w, Storage::element* plus,                    \
                                                  Storage::element* minus, mezo_u64 n, mezo_u64 first, mezo_u64 seed,   \
                                                  float scale_plus, float scale_minus, int vectorized)                  \
    {                                                                                                                   \
        mezo_perturbed_pair_pass<Storage, Fast>(w, plus, minus, n, first, seed, scale_plus, scale_minus, vectorized);  \
    }

MEZO_PERTURBED_PAIR_KERNEL(f16_exact, mezo_storage_f16, false)
MEZO_PERTURBED_PAIR_KERNEL(bf16_exact, mezo_storage_bf16, false)
MEZO_PERTURBED_PAIR_KERNEL(f16_fast, mezo_storage_f16, true)
MEZO_PERTURBED_PAIR_KERNEL(bf16_fast, mezo_storage_bf16, true)

// The perturbed embedding: mezo_embedding's layout (one block per row n, an id outside the table a fault, the row left
// untouched), its threads striding over the z-stream blocks of the gathered table row, whose global z indices start
// at first + id·C. Only the gathered rows' z is generated. The output may be float32 or 16-bit: each value (and the
// sum of +=) is computed in float32 and rounded once when stored.
template <bool Fast>
__device__ __forceinline__ void mezo_perturbed_embedding_row(const void* __restrict__ table, int table_dtype,
                                                             const int* __restrict__ ids, void* __restrict__ output,
                                                             int output_dtype, int width, int vocab, mezo_u64 first,
                                                             mezo_u64 seed, float scale, int accumulate, int* fault)
{
    int n = blockIdx.x;
    int id = mezo_embedding_id(ids, n, vocab, fault);
    if (id < 0) return;
    mezo_i64 source = (mezo_i64)id * width;
    mezo_u64 row_first = first + (mezo_u64)source;
    mezo_i64 target = (mezo_i64)n * width;
    mezo_u64 blocks = mezo_block_count(row_first, (mezo_u64)width);
    for (mezo_u64 t = threadIdx.x; t < blocks; t += blockDim.x)
    {
        mezo_u64 block = (row_first >> 2) + t;
        float z[4];
        mezo_noise_block<Fast>(seed, block, z);
        mezo_i64 c0 = mezo_block_first_local(row_first, block);
        MEZO_UNROLL
        for (int l = 0; l < 4; l++)
        {
            mezo_i64 c = c0 + l;
            if (c < 0 || c >= width) continue;
            float value = mezo_perturbed(mezo_load(table, table_dtype, source + c), scale, z[l]);
            if (accumulate) value += mezo_load(output, output_dtype, target + c);
            mezo_store(output, output_dtype, target + c, value);
        }
    }
}

#define MEZO_PERTURBED_EMBEDDING_KERNEL(suffix, Fast)                                                                \
    MEZO_KERNEL void mezo_perturbed_embedding_##suffix(const void* __restrict__ table, int table_dtype,              \
                                                       const int* __restrict__ ids, void* __restrict__ output,       \
                                                       int output_dtype, int width, int vocab, mezo_u64 first,       \
                                                       mezo_u64 seed, float scale, int accumulate, int* fault)       \
    {                                                                                                                \
        mezo_perturbed_embedding_row<Fast>(table, table_dtype, ids, output, output_dtype, width, vocab, first, seed, \
                                           scale, accumulate, fault);                                                \
    }

MEZO_PERTURBED_EMBEDDING_KERNEL(exact, false)
MEZO_PERTURBED_EMBEDDING_KERNEL(fast, true)

// Launch:
//  * mezo_perturbed_copy_*, mezo_update_*: grid (min(ceil(blocks / 256), 32·SMs)), block (256) with
//    blocks = mezo_block_count(first, n); w (n) of the kernel's dtype holding global z indices [first, first + n),
//    destination (n) float32. vectorized = 1 when, ((4 - first % 4) % 4) elements in, w is aligned to 4 elements' bytes
//    (and, for the copy, destination to 16 bytes). decay = 1 - ηλ and step = ηg in float32 (UpdateFactors); subject
//    numbers the tensor in the fault record (MEZO_FAULT_UPDATE_OVERFLOW).
//  * mezo_perturbed_pair_*: as mezo_perturbed_copy_*, with plus and minus (n) of the weight's dtype (minus null for one
//    stream); vectorized covers w, plus and minus.
//  * mezo_perturbed_embedding_*: grid (N), block (whole warps, ≈ C/4 threads, at most 256); table (V, C) of
//    table_dtype holding global z indices [first, first + V·C), ids (N) int32, output (N, C) of output_dtype.
