//go:build race

package agent_test

// raceEnabled builds hearth-init with the race detector when its tests run with it,
// so the end-to-end tests also check the binary's own goroutines.
const raceEnabled = true
