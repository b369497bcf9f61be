using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu.Backward;

/// <summary>
/// The backward of <see cref="CpuRope"/>: each pair (i, i + R/2) was rotated by angle = position·invFrequency, an
/// orthogonal map, so its gradient is rotated back by −angle. The angle is formed exactly as the forward forms it, so
/// a scaled variant (linear, llama3: only invFrequencies differ) needs nothing of its own.
/// </summary>
internal static unsafe class CpuRopeBackward
{
    /// <summary>grad (B, T, heads, D) F32 in place; positions (B, T) I32; invFrequencies (R/2) F32, R ≤ D.</summary>
    public static void Run(Tensor grad, Tensor positions, Tensor invFrequencies)
    {
        int rows = grad.Shape[0] * grad.Shape[1], heads = grad.Shape[2], headDim = grad.Shape[3];
        int half = (int)invFrequencies.ElementCount;
        float* data = (float*)grad.Address, inv = (float*)invFrequencies.Address;
        int* pos = (int*)positions.Address;
        CpuParallel.For(rows, 8, (start, end) =>
        {
            Span<float> cos = stackalloc float[half];
            Span<float> sin = stackalloc float[half];
            for (long r = start; r < end; r++)
            {
                for (int i = 0; i < half; i++)
                {
                    float angle = pos[r] * inv[i]; // the forward's float32 product, so the same rotation is undone
                    cos[i] = (float)Math.Cos(angle);
                    sin[i] = (float)Math.Sin(angle);
                }
                for (int h = 0; h < heads; h++)
                {
                    float* g = data + (r * heads + h) * headDim;
                    for (int i = 0; i < half; i++)
                    {
                        // Transpose of [[cos, −sin], [sin, cos]]; features past R passed through, so their gradient does.
                        float a = g[i], b = g[i + half];
                        g[i] = a * cos[i] + b * sin[i];
                        g[i + half] = b * cos[i] - a * sin[i];
                    }
                }
            }
        });
    }
}
