// cuda_emulation.cpp — the fiber scheduler behind cuda_emulation.h: blocks one after another, each block's threads
// as ucontext fibers switching at barriers; warp shuffles and mma.sync fragments exchanged through per-warp slots.
#include "cuda_emulation.h"
#include "numeric.cuh"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ucontext.h>
#include <vector>

mezo_uint3 mezo_emulated_thread, blockIdx, blockDim, gridDim;

namespace
{
constexpr size_t StackBytes = 256 * 1024;

struct Fiber
{
    ucontext_t context;
    mezo_uint3 index;
    bool finished;
    std::vector<char> stack;
};

struct Barrier
{
    int size = 0, arrived = 0;
    unsigned generation = 0;
};

ucontext_t scheduler;
std::vector<Fiber> fibers;
int current = 0;
long long progress = 0; // arrivals, releases and finished threads: a pass without any is a deadlock
Barrier block_barrier;
std::vector<Barrier> warp_barriers;
std::vector<unsigned long long> slots;          // (warps, 32) exchange slots for shuffles
std::vector<mezo_u32> mma_a, mma_b;             // (warps, 32, 4) and (warps, 32, 2) fragments
std::vector<char> dynamic_shared;
void (*body_function)(void*);
void* body_context;

void yield() { swapcontext(&fibers[current].context, &scheduler); }

void wait(Barrier& barrier)
{
    unsigned generation = barrier.generation;
    progress++;
    if (++barrier.arrived == barrier.size)
    {
        barrier.arrived = 0;
        barrier.generation++;
        return;
    }
    while (barrier.generation == generation) yield();
}

void fiber_main()
{
    body_function(body_context);
    fibers[current].finished = true;
    progress++;
} // returns to the scheduler through uc_link

int warp_of_current() { return (int)(threadIdx.x >> 5); }
} // namespace

void __syncthreads() { wait(block_barrier); }

void __trap()
{
    std::fprintf(stderr, "cuda emulation: __trap() in block (%u, %u, %u) thread %u\n", blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x);
    std::abort();
}

int atomicCAS(int* address, int compare, int value)
{
    std::atomic_ref<int> target(*address);
    target.compare_exchange_strong(compare, value);
    return compare; // the old value, whether or not it was replaced
}

void* mezo_emulated_dynamic_shared() { return dynamic_shared.data(); }

void mezo_emulated_exchange(void* value, size_t size, int source)
{
    int warp = warp_of_current(), lane = (int)(threadIdx.x & 31);
    std::memcpy(&slots[warp * 32 + lane], value, size);
    wait(warp_barriers[warp]);
    std::memcpy(value, &slots[warp * 32 + source], size);
    wait(warp_barriers[warp]); // nobody overwrites a slot before every lane has read
}

/// mma.sync.m16n8k16 with the fragment layout of mma.cuh: every lane publishes its registers, then computes its four
/// outputs from the whole warp's A (16×16) and B (16×8), accumulating in float in k order.
void mezo_emulated_mma(int kind, float d[4], const mezo_u32 a[4], const mezo_u32 b[2])
{
    int warp = warp_of_current(), lane = (int)(threadIdx.x & 31);
    std::memcpy(&mma_a[(warp * 32 + lane) * 4], a, 4 * sizeof(mezo_u32));
    std::memcpy(&mma_b[(warp * 32 + lane) * 2], b, 2 * sizeof(mezo_u32));
    wait(warp_barriers[warp]);
    auto widen = [kind](mezo_u32 word, int half) {
        mezo_u16 bits = (mezo_u16)(word >> (16 * half));
        return kind == 0 ? mezo_bf16_to_float(bits) : mezo_half_to_float(bits);
    };
    auto A = [&](int row, int k) { // held by lane (row % 8)·4 + (k % 8)/2, register (row ≥ 8) + 2·(k ≥ 8)
        int holder = (row & 7) * 4 + (k & 7) / 2, reg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
        return widen(mma_a[(warp * 32 + holder) * 4 + reg], k & 1);
    };
    auto B = [&](int k, int n) { // held by lane n·4 + (k % 8)/2, register (k ≥ 8)
        int holder = n * 4 + (k & 7) / 2, reg = k >= 8 ? 1 : 0;
        return widen(mma_b[(warp * 32 + holder) * 2 + reg], k & 1);
    };
    int g = lane >> 2, c = lane & 3;
    for (int e = 0; e < 4; e++)
    {
        int row = g + (e >= 2 ? 8 : 0), column = 2 * c + (e & 1);
        float sum = d[e];
        for (int k = 0; k < 16; k++) sum = fmaf(A(row, k), B(k, column), sum);
        d[e] = sum;
    }
    wait(warp_barriers[warp]);
}

void mezo_emulated_run(const mezo_emulated_shape* shape, void (*body)(void*), void* context)
{
    int threads = (int)(shape->block_x * shape->block_y * shape->block_z);
    if (threads <= 0 || threads > 1024 || threads % 32 != 0 || shape->block_y != 1 || shape->block_z != 1)
    {
        std::fprintf(stderr, "cuda emulation: blocks must be one-dimensional whole warps of at most 1024 threads (got %u×%u×%u)\n",
                     shape->block_x, shape->block_y, shape->block_z);
        std::abort();
    }
    body_function = body;
    body_context = context;
    gridDim = { shape->grid_x, shape->grid_y, shape->grid_z };
    blockDim = { shape->block_x, 1, 1 };
    int warps = threads / 32;
    fibers.resize(threads);
    warp_barriers.assign(warps, Barrier{});
    for (auto& barrier : warp_barriers) barrier.size = 32;
    slots.assign(warps * 32, 0);
    mma_a.assign(warps * 32 * 4, 0);
    mma_b.assign(warps * 32 * 2, 0);
    dynamic_shared.assign(shape->shared_bytes + 16, 0);
    for (unsigned z = 0; z < shape->grid_z; z++)
        for (unsigned y = 0; y < shape->grid_y; y++)
            for (unsigned x = 0; x < shape->grid_x; x++)
            {
                blockIdx = { x, y, z };
                block_barrier = Barrier{ threads, 0, 0 };
                for (int t = 0; t < threads; t++)
                {
                    Fiber& f = fibers[t];
                    f.index = { (unsigned)t, 0, 0 };
                    f.finished = false;
                    if (f.stack.size() != StackBytes) f.stack.resize(StackBytes);
                    getcontext(&f.context);
                    f.context.uc_stack.ss_sp = f.stack.data();
                    f.context.uc_stack.ss_size = StackBytes;
                    f.context.uc_link = &scheduler;
                    makecontext(&f.context, fiber_main, 0);
                }
                int remaining = threads;
                while (remaining > 0)
                {
                    long long before = progress;
                    for (int t = 0; t < threads; t++)
                    {
                        if (fibers[t].finished) continue;
                        current = t;
                        mezo_emulated_thread = fibers[t].index;
                        swapcontext(&scheduler, &fibers[t].context);
                        if (fibers[t].finished) remaining--;
                    }
                    if (remaining > 0 && progress == before)
                    {
                        std::fprintf(stderr, "cuda emulation: deadlock in block (%u, %u, %u): threads wait at a barrier that "
                                             "others never reach (an early return before __syncthreads, or a partial-warp shuffle)\n",
                                     x, y, z);
                        std::abort();
                    }
                }
            }
}
