module wasmgate.dev/sdk

go 1.27
