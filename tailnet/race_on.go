//go:build race

package tailnet

// raceDetector is true in -race builds; see borrowPeerDERP.
const raceDetector = true
