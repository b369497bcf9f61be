// perturbation.cu — MeZO's passes over the weights: w += scale·z and the fused restore+update, z from the seed.
#include "device.cuh"
#include "perturbation.cuh"

// One thread per Philox block (four elements: one Philox call feeds all four), a grid-stride loop over the tensor's
// blocks, one read and one write per element. Compiled with --fmad=false so the float32 updates round as the CPU's.
// Kernels per storage dtype (f32, f16, bf16) and z arithmetic (exact: bit-identical to the CPU; fast: float32).

template <class Storage, bool Fast, class Update>
__device__ __forceinline__ void mezo_perturb_pass(typename Storage::element* w, mezo_u64 n, mezo_u64 first,
                                                  mezo_u64 seed, int vectorized, Update update)
{
    mezo_u64 first_block = first >> 2, blocks = mezo_block_count(first, n);
    for (mezo_u64 t = (mezo_u64)blockIdx.x * blockDim.x + threadIdx.x; t < blocks; t += (mezo_u64)gridDim.x * blockDim.x)
        mezo_perturb_block<Storage, Fast>(w, n, first, seed, first_block + t, vectorized != 0, update);
}

#define MEZO_PERTURB_KERNELS(suffix, Storage, Fast)                                                                   \
    MEZO_KERNEL void mezo_perturb_##suffix(Storage::element* w, mezo_u64 n, mezo_u64 first, mezo_u64 seed,          \
                                           float scale, int vectorized)                                               \
    {                                                                                                                 \
        mezo_add_scaled update = { scale };                                                                           \
        mezo_perturb_pass<Storage, Fast>(w, n, first, seed, vectorized, update);                                      \
    }                                                                                                                 \
    MEZO_KERNEL void mezo_perturb_update_##suffix(Storage::element* w, mezo_u64 n, mezo_u64 first, mezo_u64 seed,   \
                                                  float eps, float decay, float step, int vectorized)                 \
    {                                                                                                                 \
        mezo_restore_update update = { eps, decay, step };                                                            \
        mezo_perturb_pass<Storage, Fast>(w, n, first, seed, vectorized, update);                                      \
    }

MEZO_PERTURB_KERNELS(f32_exact, mezo_storage_f32, false)
MEZO_PERTURB_KERNELS(f16_exact, mezo_storage_f16, false)
MEZO_PERTURB_KERNELS(bf16_exact, mezo_storage_bf16, false)
MEZO_PERTURB_KERNELS(f32_fast, mezo_storage_f32, true)
MEZO_PERTURB_KERNELS(f16_fast, mezo_storage_f16, true)
MEZO_PERTURB_KERNELS(bf16_fast, mezo_storage_bf16, true)

// Launch: grid (min(ceil(blocks / 256), 32·SMs)), block (256) with blocks = mezo_block_count(first, n);
// w (n) of the kernel's dtype holding global z indices [first, first + n); vectorized = 1 when the tensor's address
// plus ((4 - first % 4) % 4) elements is a multiple of 4 elements' bytes. decay = 1 - lr·wd and step = lr·g in float32.
