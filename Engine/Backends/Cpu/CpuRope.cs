using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>Rotary position embedding, Hugging Face rotate_half layout: feature i pairs with i + R/2.</summary>
internal static unsafe class CpuRope
{
    public static void Apply(Tensor x, Tensor positions, Tensor invFrequencies) => Rotate(x, positions, invFrequencies, 1f);

    /// <summary>
    /// The backward, in place on the gradient: the rotation [[cos, −sin], [sin, cos]] is orthogonal, so its transpose,
    /// the rotation by −angle, carries the gradient back (features past R passed through, and so does their gradient).
    /// Negating sin is exact, so the angle, cos and sin are the forward's own (a scaled variant — linear, llama3 —
    /// differs only in invFrequencies and needs nothing of its own).
    /// </summary>
    public static void Backward(Tensor grad, Tensor positions, Tensor invFrequencies) => Rotate(grad, positions, invFrequencies, -1f);

    /// <summary>Rotates each pair (i, i + R/2) of every head by <paramref name="sign"/>·angle, in place.</summary>
    private static void Rotate(Tensor x, Tensor positions, Tensor invFrequencies, float sign)
    {
        int rows = x.Shape[0] * x.Shape[1], heads = x.Shape[2], headDim = x.Shape[3];
        int half = (int)invFrequencies.ElementCount;
        float* data = (float*)x.Address, inv = (float*)invFrequencies.Address;
        int* pos = (int*)positions.Address;
        CpuParallel.For(rows, 8, (start, end) =>
        {
            Span<float> cos = stackalloc float[half];
            Span<float> sin = stackalloc float[half];
            for (long r = start; r < end; r++)
            {
                for (int i = 0; i < half; i++)
                {
                    // The angle is a float32 product, as in transformers; cos/sin are then exact to float32.
                    float angle = pos[r] * inv[i];
                    cos[i] = (float)Math.Cos(angle);
                    sin[i] = sign * (float)Math.Sin(angle);
                }
                for (int h = 0; h < heads; h++)
                {
                    float* v = data + (r * heads + h) * headDim;
                    for (int i = 0; i < half; i++)
                    {
                        float a = v[i], b = v[i + half];
                        v[i] = a * cos[i] - b * sin[i];
                        v[i + half] = b * cos[i] + a * sin[i];
                    }
                }
            }
        });
    }
}
