package terraform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/opencoder/coder/codersdk"
)

// maxLogLine caps one line of Terraform output; longer lines are split.
const maxLogLine = 256 << 10

// maxErrOutput caps the stderr text kept for an error message.
const maxErrOutput = 8 << 10

// logSink turns Terraform's output into codersdk.ProvisionerLog lines for
// one job. terraform-exec copies stdout and stderr on two goroutines, so
// every method takes mu, and Logf is never called concurrently.
type logSink struct {
	logf   func(codersdk.ProvisionerLog)
	redact *redactor

	mu    sync.Mutex
	stage string // guarded by mu
	// applyStage, when set, replaces stage at the first message of
	// Terraform's apply phase (planAndApply's one command logs both
	// phases); applying records that it came. Guarded by mu.
	applyStage string
	applying   bool
	diags      []Diagnostic    // error diagnostics of the current command; guarded by mu
	stderr     strings.Builder // tail of the current command's stderr; guarded by mu
}

func newLogSink(logf func(codersdk.ProvisionerLog), red *redactor) *logSink {
	if logf == nil {
		logf = func(codersdk.ProvisionerLog) {}
	}
	return &logSink{logf: logf, redact: red}
}

// addSecrets redacts more values from then on. Call it between commands
// only (no output is being copied then).
func (s *logSink) addSecrets(secrets []string) {
	if len(secrets) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redact = s.redact.with(secrets)
}

// begin starts a command: later lines carry stage, and the diagnostics and
// stderr collected for the previous command are forgotten.
func (s *logSink) begin(stage string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stage = stage
	s.diags = nil
	s.stderr.Reset()
}

func (s *logSink) currentStage() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stage
}

// collected returns the current command's error diagnostics and stderr.
func (s *logSink) collected() ([]Diagnostic, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Diagnostic(nil), s.diags...), strings.TrimSpace(s.stderr.String())
}

// Logf emits a line produced by the runner itself.
func (s *logSink) Logf(level codersdk.ProvisionerLogLevel, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.emitLocked(time.Now(), level, fmt.Sprintf(format, args...))
}

func (s *logSink) emitLocked(at time.Time, level codersdk.ProvisionerLogLevel, output string) {
	if at.IsZero() {
		at = time.Now()
	}
	s.logf(codersdk.ProvisionerLog{
		CreatedAt: at.UTC(),
		Level:     level,
		Stage:     s.stage,
		Output:    s.redact.redact(output),
	})
}

// jsonLine handles one line of `-json` output (plan, apply).
func (s *logSink) jsonLine(line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	msg, err := tfjson.UnmarshalLogMessage([]byte(line))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || msg == nil {
		s.emitLocked(time.Now(), codersdk.ProvisionerLogLevelInfo, line)
		return
	}
	if s.applyStage != "" && startsApply(line) {
		s.stage, s.applyStage, s.applying = s.applyStage, "", true
	}
	output := msg.Message()
	if d, ok := msg.(tfjson.DiagnosticLogMessage); ok {
		diag := diagnosticFrom(d.Diagnostic)
		if diag.Detail != "" {
			output += "\n" + diag.Detail
		}
		if loc := diag.location(); loc != "" {
			output += "\n  on " + loc
		}
		if d.Diagnostic.Severity == tfjson.DiagnosticSeverityError {
			s.diags = append(s.diags, diag)
		}
	}
	s.emitLocked(msg.Timestamp(), logLevel(msg.Level()), output)
}

// startsApply reports a machine-readable UI message of the apply phase:
// the first change applied, or the apply's summary when nothing changes.
// Reading a data source while planning is an apply_start too, with action
// "read": not a change. (terraform-json does not type these messages.)
func startsApply(line string) bool {
	if !strings.Contains(line, `"apply_start"`) && !strings.Contains(line, `"change_summary"`) {
		return false
	}
	var m struct {
		Type    string `json:"type"`
		Changes struct {
			Operation string `json:"operation"`
		} `json:"changes"`
		Hook struct {
			Action string `json:"action"`
		} `json:"hook"`
	}
	if json.Unmarshal([]byte(line), &m) != nil {
		return false
	}
	return (m.Type == "apply_start" && m.Hook.Action != "read") || (m.Type == "change_summary" && m.Changes.Operation != "plan")
}

// expectApply makes the next apply-phase message switch the stage to
// stage (see applyStage).
func (s *logSink) expectApply(stage string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyStage, s.applying = stage, false
}

// applyStarted reports whether the apply phase began since expectApply.
func (s *logSink) applyStarted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applying
}

// textLine handles one line of plain output (init, and every stderr).
func (s *logSink) textLine(level codersdk.ProvisionerLogLevel, isStderr bool) func(string) {
	return func(line string) {
		line = strings.TrimRight(line, "\r")
		s.mu.Lock()
		defer s.mu.Unlock()
		if isStderr {
			clean := strings.TrimSpace(strings.TrimLeft(line, "╷│╵ "))
			if clean != "" && s.stderr.Len() < maxErrOutput {
				s.stderr.WriteString(clean)
				s.stderr.WriteByte('\n')
			}
		}
		if strings.TrimSpace(line) == "" {
			return
		}
		s.emitLocked(time.Now(), level, line)
	}
}

func logLevel(l tfjson.LogMessageLevel) codersdk.ProvisionerLogLevel {
	switch l {
	case tfjson.Trace:
		return codersdk.ProvisionerLogLevelTrace
	case tfjson.Debug:
		return codersdk.ProvisionerLogLevelDebug
	case tfjson.Warn:
		return codersdk.ProvisionerLogLevelWarn
	case tfjson.Error:
		return codersdk.ProvisionerLogLevelError
	default:
		return codersdk.ProvisionerLogLevelInfo
	}
}

// lineWriter is an io.Writer that calls line for every complete line. It is
// used by one goroutine at a time (terraform-exec's copier for one stream).
type lineWriter struct {
	buf  []byte
	line func(string)
}

func newLineWriter(line func(string)) *lineWriter { return &lineWriter{line: line} }

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= maxLogLine {
				w.Flush()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		p = p[i+1:]
		w.Flush()
	}
	return n, nil
}

// Flush emits a pending partial line.
func (w *lineWriter) Flush() {
	if len(w.buf) == 0 {
		return
	}
	w.line(string(w.buf))
	w.buf = w.buf[:0]
}
