module wasmgate.dev/plugins/{{name}}

go 1.27

require wasmgate.dev/sdk v0.0.0

replace wasmgate.dev/sdk => {{sdk}}
