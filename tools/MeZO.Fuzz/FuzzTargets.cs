namespace MeZO.Fuzz;

/// <summary>The targets by name; each has a seed corpus in corpus/&lt;name&gt;/.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("safetensors", "a .safetensors file: header length, JSON header, data section", SafetensorsTarget.Read),
        new("shard-index", "model.safetensors.index.json of a sharded checkpoint, beside two valid shards", ShardIndexTarget.Read),
        new("config", "a model's config.json, read into an ArchitectureSpec", ModelConfigTarget.Read),
        new("task-file", "a task's data file; the first line names the task", TaskFileTarget.Read),
        new("run-files", "run.json, a checkpoint's state.json and trajectory.jsonl, the files resume and replay read", RunFilesTarget.Read),
        new("adapter-config", "a PEFT adapter folder's adapter_config.json (LoRA or prefix tuning), read by AdapterFolder.Describe", AdapterConfigTarget.Read),
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
