// Package bench reads the output of the pipeline's benchmarks (go test
// -bench in pipeline/) and checks it against the throughput targets: it
// takes the median of each metric over the -count runs, sets each pipeline
// configuration beside the ceiling of its own stages measured in the same
// run, and renders a markdown table with a mark for every target.
//
// The ceilings come from BenchmarkCeiling, which runs the encoder and the
// compressor in a plain loop on one goroutine. With n cores the pipeline
// cannot beat n times the encode+compress loop (all the CPU work, shared
// by n cores), nor the compressor alone (one goroutine compresses, in
// order): its ceiling is the smaller of the two. See Ceiling.
//
// cmd/benchtable runs the benchmarks and prints the table; README.md holds
// the figures measured with it.
package bench
