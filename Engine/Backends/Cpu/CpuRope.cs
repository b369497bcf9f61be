using MeZO.Engine.Tensors;

namespace MeZO.Engine.Backends.Cpu;

/// <summary>Rotary position embedding, Hugging Face rotate_half layout: feature i pairs with i + R/2.</summary>
internal static unsafe class CpuRope
{
    public static void Apply(Tensor x, Tensor positions, Tensor invFrequencies)
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
                    sin[i] = (float)Math.Sin(angle);
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
