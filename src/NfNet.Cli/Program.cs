using NfNet.Cli;

return CliApp.Run(args);
