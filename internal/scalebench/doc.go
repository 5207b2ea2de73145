// Package scalebench is the scale benchmark of issue 21: it builds a SQLite
// store of N grants (sealed with the real encryption), starts the real
// `twitchauth serve` binary against an in-process sandbox that knows every
// token, and measures what grows with N: start-up time, resident memory
// (VmRSS of the child process), one validation round, and the token API's
// latency. It holds no production code; run it with
//
//	go test ./internal/scalebench -run '^$' -bench Scale -benchtime 1x -timeout 60m
//
// TWITCHAUTH_SCALE_N picks the sizes (default 1000,10000,100000) and
// TWITCHAUTH_SCALE_BINS compares binaries in one run ("before=/tmp/old,after="
// — an empty path builds this checkout's ./cmd/twitchauth; "name=path@NAME=VALUE"
// also sets NAME in that binary's serve processes, e.g. GOMEMLIMIT or
// GODEBUG=gctrace=1); TWITCHAUTH_SCALE_LOGS=DIR keeps each serve's whole
// stderr in DIR/<binary>-<N>.log. The benchmark
// prints the table of docs/scale-out.md at the end. A plain `go test` runs
// nothing here, so CI time stays flat.
package scalebench
