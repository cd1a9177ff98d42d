//go:build race

package bench

// The race detector's instrumentation allocates; allocation counts mean
// nothing under it.
const raceEnabled = true
