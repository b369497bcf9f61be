namespace MeZO.Trainer; internal static class Placeholder {}
