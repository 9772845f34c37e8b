using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/NfNet.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(NfNet.Benchmarks.TrainingStepBenchmark).Assembly).Run(args);
