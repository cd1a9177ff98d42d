//go:build race

package crypto

// raceEnabled: the race runtime drops sync.Pool items at random, so the
// scratch pool allocates and allocation counts mean nothing.
const raceEnabled = true
