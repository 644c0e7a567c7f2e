package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opencoder/coder/codersdk"
)

// cronParser reads coder_script cron schedules: the provider's six fields
// (seconds first), or the classic five.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronLoop runs the scripts that have a cron schedule, on it, until ctx
// ends: each with its timeout, its output in the agent's logs like the
// startup scripts', and never two runs of one script at once (a run due
// while the last is still going is skipped and logged). A schedule that
// does not parse is reported in the logs once and that script never runs.
func (a *Agent) cronLoop(ctx context.Context, dir string) {
	var scheduled []int
	for i, s := range a.manifest.Scripts {
		if s.Cron != "" {
			scheduled = append(scheduled, i)
		}
	}
	if len(scheduled) == 0 {
		return
	}
	logs := newScriptLogs(patchLogs(a.opts.Client), a.log, scriptLogPending)
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scriptLogFlush)
		defer cancel()
		_ = logs.close(fctx)
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, i := range scheduled {
		s := a.manifest.Scripts[i]
		name := s.DisplayName
		if name == "" {
			name = "script"
		}
		sched, err := cronParser.Parse(s.Cron)
		if err != nil {
			logs.add(codersdk.AgentLog{CreatedAt: time.Now(), Level: codersdk.ProvisionerLogLevelError, Source: name,
				Output: fmt.Sprintf("%s: cron schedule %q does not parse (%v): it will not run", name, s.Cron, err)})
			continue
		}
		timeout := 5 * time.Minute
		if s.TimeoutSeconds > 0 {
			timeout = time.Duration(s.TimeoutSeconds) * time.Second
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.runOnSchedule(ctx, dir, i, name, sched, timeout, logs)
		}()
	}
}

func (a *Agent) runOnSchedule(ctx context.Context, dir string, i int, name string, sched cron.Schedule, timeout time.Duration, logs *scriptLogs) {
	next := sched.Next(time.Now())
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// Runs are sequential here, so one never overlaps the last; a
		// run longer than the interval makes the next due time the first
		// one after it ends.
		if err := a.runScript(ctx, dir, i, codersdk.AgentScriptStageCron, timeout, logs); err != nil && ctx.Err() == nil {
			a.log.Warn("cron script failed", "script", name, "error", err)
		}
		now := time.Now()
		if skipped := next; sched.Next(skipped).Before(now) {
			logs.add(codersdk.AgentLog{CreatedAt: now, Level: codersdk.ProvisionerLogLevelWarn, Source: name,
				Output: fmt.Sprintf("%s: the last run outlasted its schedule; runs due meanwhile were skipped", name)})
		}
		next = sched.Next(now)
	}
}
