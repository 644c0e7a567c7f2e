package provisionerd_test

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/provisionerd"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkJobPickup measures how long a queued job waits for an idle
// daemon: from the moment coderd accepted the job (CreateTemplateVersion
// returned) to the moment the daemon's runner started it. The daemon sits
// in a long poll that coderd's LISTEN/NOTIFY wakes, so this is milliseconds;
// Coder's daemons rely on a 1s debounced poll plus pubsub, and its acquirer
// has a 30s backup poll. The safety-net poll is set to an hour here, so
// only the wake-up can explain a fast pickup.
func BenchmarkJobPickup(b *testing.B) {
	dep := newDeployment(b, &coderdtest.Options{AcquirePollInterval: time.Hour})
	runner := newScriptedRunner()
	close(runner.release)
	startDaemon(b, daemonClient(dep.srv.URL), provisionerd.Options{Runner: runner, Logger: discard()})

	var waits []time.Duration
	for b.Loop() {
		dep.pushVersion(b, quickTemplate, nil)
		queued := time.Now()
		runner.awaitStarted(b)
		waits = append(waits, time.Since(queued))
	}
	slices.Sort(waits)
	b.ReportMetric(float64(waits[len(waits)/2].Microseconds())/1000, "ms-p50/pickup")
	b.ReportMetric(float64(waits[len(waits)*9/10].Microseconds())/1000, "ms-p90/pickup")
	b.ReportMetric(float64(waits[len(waits)-1].Microseconds())/1000, "ms-max/pickup")
}
