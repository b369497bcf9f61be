// log_softmax_gather_backward.cu — the backward of log softmax(logits[s])[targets[s]]:
// logitsGrad[s] = outputGrad[s]·(onehot(targets[s]) − softmax(logits[s])).
#include "device.cuh"

// One block per row, three passes over it: the maximum, Σ exp(x − max), then the gradient, each a block reduction in
// a fixed tree (the same bits on every run). The softmax is the CPU twin's (CpuLogitsBackward): the float32
// exponentials of the max-shifted logits times −outputGrad/sum, the target's element then adding outputGrad; only
// the order of the float32 sum differs. A NaN logit, or a row of −inf, makes the row's gradient NaN, as on the CPU.
// A target outside the vocabulary is a fault and the row is left untouched.
MEZO_KERNEL void mezo_log_softmax_gather_backward(const float* __restrict__ logits, const int* __restrict__ targets,
                                                  const float* __restrict__ output_grad, float* __restrict__ logits_grad,
                                                  int vocab, int* fault)
{
    __shared__ float scratch[32];
    int s = blockIdx.x;
    int target = targets[s];
    if ((unsigned)target >= (unsigned)vocab)
    {
        if (threadIdx.x == 0) mezo_report_fault(fault, MEZO_FAULT_TARGET_BACKWARD, s, target, vocab);
        return;
    }
    const float* row = logits + (mezo_i64)s * vocab;
    float* grad = logits_grad + (mezo_i64)s * vocab;

    float m = -MEZO_INFINITY;
    for (int v = threadIdx.x; v < vocab; v += blockDim.x) m = mezo_max(m, row[v]);
    m = mezo_block_max(m, scratch);

    float sum = 0.0f;
    for (int v = threadIdx.x; v < vocab; v += blockDim.x) sum += expf(row[v] - m);
    sum = mezo_block_sum(sum, scratch);

    float dy = output_grad[s], factor = -dy / sum;
    for (int v = threadIdx.x; v < vocab; v += blockDim.x)
    {
        float g = expf(row[v] - m) * factor;
        grad[v] = v == target ? g + dy : g;
    }
}

// Launch: grid (S), block (256); logits, logits_grad (S, V) float32, targets (S) int32, output_grad (S) float32.
