// NfNet.NET studies: the claims behind NFNets, measured on this machine (see docs/studies.md).
//   dotnet run -c Release --project samples/NfNet.Studies -- <small-batch|large-batch|dlb|progressive|step-time|all> [--quick] [--data DIR] [--out DIR]
// A training program keeps freed tensor memory for the next step (the library leaves the allocator alone by default).
NfNet.Platform.NativeAllocator.TuneForTensors();
return NfNet.Studies.StudyRunner.Run(args);
