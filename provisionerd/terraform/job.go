package terraform

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/opencoder/coder/codersdk"
)

// Stage names carried by the log lines of each step.
const (
	StageSettingUp    = "Setting up"
	StageInitializing = "Initializing"
	StagePlanning     = "Planning"
	StageApplying     = "Applying"
	StagePlanStart    = "Planning start"
	StagePlanStop     = "Planning stop"
)

// job is one import or build: its directory and the terraform-exec handle
// bound to it. It is used by one goroutine.
type job struct {
	r    *Runner
	dir  string
	tf   *tfexec.Terraform
	sink *logSink
	// varFile holds the template variable values (-var-file); "" if none.
	// It lives beside dir, not in the template, and goes with close.
	varFile string
}

// newJob makes the job directory and unpacks the template into it. The
// caller must call close.
func (r *Runner) newJob(ctx context.Context, source []byte, sink *logSink) (*job, error) {
	dir, err := os.MkdirTemp(r.workDir, "job-")
	if err != nil {
		return nil, fmt.Errorf("create job dir: %w", err)
	}
	j := &job{r: r, dir: dir, sink: sink}
	if err := extractTar(ctx, dir, source); err != nil {
		j.close()
		return nil, err
	}
	j.tf, err = tfexec.NewTerraform(dir, r.execPath)
	if err != nil {
		j.close()
		return nil, fmt.Errorf("terraform exec: %w", err)
	}
	// On cancel terraform-exec sends SIGINT, then kills after this delay.
	if err := j.tf.SetWaitDelay(r.interruptGrace); err != nil {
		r.logger.Warn("graceful terraform interrupt unsupported", slog.Any("error", err))
	}
	return j, nil
}

// close kills whatever still runs in the job directory and removes it.
func (j *job) close() {
	if pids := reapProcesses(j.dir); len(pids) > 0 {
		j.r.logger.Warn("killed processes left behind by a terraform job",
			slog.String("dir", j.dir), slog.Any("pids", pids))
	}
	err := os.RemoveAll(j.dir)
	if err != nil {
		// A process killed a moment ago may still have been writing.
		time.Sleep(100 * time.Millisecond)
		err = os.RemoveAll(j.dir)
	}
	if err != nil {
		j.r.logger.Error("remove job dir", slog.String("dir", j.dir), slog.Any("error", err))
	}
	if j.varFile != "" {
		if err := os.Remove(j.varFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			j.r.logger.Error("remove variables file", slog.String("path", j.varFile), slog.Any("error", err))
		}
	}
}

// useVariables checks the template variable values against the template's
// declarations (see resolveVariables), keeps the sensitive ones out of the
// logs and writes them for the following plans and applies. Call it before
// the first Terraform command.
func (j *job) useVariables(given, previous map[string]string, strict bool) (*templateVariables, error) {
	tv, err := resolveVariables(j.dir, given, previous, strict, func(format string, args ...any) {
		j.sink.Logf(codersdk.ProvisionerLogLevelWarn, format, args...)
	})
	if err != nil {
		return nil, err
	}
	j.sink.addSecrets(tv.secrets())
	if j.varFile, err = tv.writeVarFile(j.r.workDir); err != nil {
		return nil, err
	}
	if len(tv.values) > 0 {
		j.sink.Logf(codersdk.ProvisionerLogLevelInfo, "Template variables set: %s", strings.Join(sortedKeys(tv.values), ", "))
	}
	return tv, nil
}

// setEnv gives every following command exactly env.
func (j *job) setEnv(env map[string]string) error {
	if err := j.tf.SetEnv(env); err != nil {
		return fmt.Errorf("terraform env: %w", err)
	}
	return nil
}

// run executes one command with its output streamed into the sink. json
// says whether stdout is Terraform's -json stream.
func (j *job) run(ctx context.Context, command, stage string, json bool, fn func(stdout io.Writer) error) error {
	j.sink.begin(stage)
	var out *lineWriter
	if json {
		out = newLineWriter(j.sink.jsonLine)
	} else {
		out = newLineWriter(j.sink.textLine(codersdk.ProvisionerLogLevelInfo, false))
	}
	errw := newLineWriter(j.sink.textLine(codersdk.ProvisionerLogLevelError, true))
	j.tf.SetStderr(errw)
	start := time.Now()
	err := fn(out)
	j.r.logger.Debug("terraform command done", slog.String("command", command),
		slog.Duration("took", time.Since(start)), slog.Bool("ok", err == nil))
	// terraform-exec has joined its copiers when the call returns.
	out.Flush()
	errw.Flush()
	j.tf.SetStdout(nil)
	j.tf.SetStderr(nil)
	if err != nil {
		return commandError(ctx, command, j.sink, err)
	}
	return nil
}

// init runs `terraform init`, holding the plugin cache lock: Terraform's
// plugin cache is not safe for concurrent writers.
func (j *job) init(ctx context.Context) error {
	j.sink.begin(StageInitializing)
	unlock, err := lockFile(ctx, filepath.Join(j.r.cacheDir, "plugins.lock"))
	if err != nil {
		return fmt.Errorf("terraform init: %w", err)
	}
	defer unlock()
	return j.run(ctx, "init", StageInitializing, false, func(stdout io.Writer) error {
		// terraform-exec runs `version -json` before its first command to
		// pick flags; run it now, before stdout is streamed, so its JSON
		// stays out of the logs. The answer is cached for the job.
		if _, _, err := j.tf.Version(ctx, false); err != nil {
			return err
		}
		j.tf.SetStdout(stdout)
		return j.tf.Init(ctx)
	})
}

// plan writes planFile; destroy plans a -destroy.
func (j *job) plan(ctx context.Context, stage, planFile string, destroy bool) error {
	opts := []tfexec.PlanOption{tfexec.Out(planFile), tfexec.Destroy(destroy), tfexec.Refresh(true)}
	if j.varFile != "" {
		opts = append(opts, tfexec.VarFile(j.varFile))
	}
	return j.run(ctx, "plan", stage, true, func(stdout io.Writer) error {
		_, err := j.tf.PlanJSON(ctx, stdout, opts...)
		return err
	})
}

// planAndApply plans and applies in one `terraform apply` (one start of
// Terraform and every provider fewer than plan -out and apply of the
// plan). Its lines carry StagePlanning until Terraform's first apply-phase
// message, then StageApplying. applied says whether that phase began: when
// it did not, Terraform changed nothing and wrote no state.
func (j *job) planAndApply(ctx context.Context, destroy bool) (applied bool, err error) {
	opts := []tfexec.ApplyOption{tfexec.Destroy(destroy), tfexec.Refresh(true)}
	if j.varFile != "" {
		opts = append(opts, tfexec.VarFile(j.varFile))
	}
	err = j.run(ctx, "apply", StagePlanning, true, func(stdout io.Writer) error {
		j.sink.expectApply(StageApplying)
		return j.tf.ApplyJSON(ctx, stdout, opts...)
	})
	return j.sink.applyStarted(), err
}

func (j *job) showPlan(ctx context.Context, planFile string) (*tfjson.Plan, error) {
	var plan *tfjson.Plan
	err := j.run(ctx, "show", j.sink.currentStage(), false, func(io.Writer) error {
		var err error
		plan, err = j.tf.ShowPlanFile(ctx, planFile)
		return err
	})
	return plan, err
}

func (j *job) showState(ctx context.Context) (*tfjson.State, error) {
	var state *tfjson.State
	err := j.run(ctx, "show", j.sink.currentStage(), false, func(io.Writer) error {
		var err error
		state, err = j.tf.Show(ctx)
		return err
	})
	return state, err
}

func (j *job) graph(ctx context.Context) (string, error) {
	var dot string
	err := j.run(ctx, "graph", j.sink.currentStage(), false, func(io.Writer) error {
		var err error
		dot, err = j.tf.Graph(ctx)
		return err
	})
	return dot, err
}

// statePath is where the local backend keeps the state.
func (j *job) statePath() string { return filepath.Join(j.dir, "terraform.tfstate") }

// readState returns the state file, or fallback if Terraform wrote none.
func (j *job) readState(fallback []byte) ([]byte, error) {
	b, err := os.ReadFile(j.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return fallback, nil
	}
	if err != nil {
		return fallback, fmt.Errorf("read state: %w", err)
	}
	return b, nil
}

// newUUID returns a random (version 4) UUID string.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
