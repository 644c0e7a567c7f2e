package terraform

import (
	"context"
	"errors"
	"fmt"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// Diagnostic is one error Terraform reported, as it reported it.
type Diagnostic struct {
	Severity string
	Summary  string
	Detail   string
	// Address is the resource the diagnostic is about, if any.
	Address  string
	Filename string
	Line     int
}

func diagnosticFrom(d tfjson.Diagnostic) Diagnostic {
	out := Diagnostic{
		Severity: string(d.Severity),
		Summary:  d.Summary,
		Detail:   d.Detail,
		Address:  d.Address,
	}
	if d.Range != nil {
		out.Filename = d.Range.Filename
		out.Line = d.Range.Start.Line
	}
	return out
}

func (d Diagnostic) location() string {
	if d.Filename == "" {
		return ""
	}
	if d.Line > 0 {
		return fmt.Sprintf("%s line %d", d.Filename, d.Line)
	}
	return d.Filename
}

// String is "summary: detail (on file line N)", the form shown to users.
func (d Diagnostic) String() string {
	s := d.Summary
	if d.Address != "" {
		s = d.Address + ": " + s
	}
	if d.Detail != "" {
		s += ": " + d.Detail
	}
	if loc := d.location(); loc != "" {
		s += " (on " + loc + ")"
	}
	return s
}

// Error is a failed Terraform command. Its message carries Terraform's own
// diagnostics (or, for commands without JSON output, its error output), so
// coderd can show the user why the build failed. When the job's context
// ended, Err wraps the context's error: errors.Is(err, context.Canceled)
// then holds.
type Error struct {
	// Command is the Terraform subcommand: init, plan, apply, show, graph.
	Command     string
	Diagnostics []Diagnostic
	// Output is Terraform's error output when it gave no JSON diagnostics.
	Output string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("terraform ")
	b.WriteString(e.Command)
	if errors.Is(e.Err, context.Canceled) || errors.Is(e.Err, context.DeadlineExceeded) {
		b.WriteString(" interrupted")
	} else {
		b.WriteString(" failed")
	}
	switch {
	case len(e.Diagnostics) > 0:
		for i, d := range e.Diagnostics {
			if i == 0 {
				b.WriteString(": ")
			} else {
				b.WriteString("; ")
			}
			b.WriteString(d.String())
		}
	case e.Output != "":
		b.WriteString(": ")
		b.WriteString(e.Output)
	case e.Err != nil:
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// commandError builds the *Error of a failed command from what the sink
// collected, redacting secrets, and ties it to ctx's error if ctx ended.
func commandError(ctx context.Context, command string, sink *logSink, runErr error) error {
	diags, stderr := sink.collected()
	for i := range diags {
		diags[i].Summary = sink.redact.redact(diags[i].Summary)
		diags[i].Detail = sink.redact.redact(diags[i].Detail)
	}
	// terraform-exec's error text holds Terraform's stderr: redact it too.
	var err error = &redactedError{msg: sink.redact.redact(runErr.Error()), err: runErr}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = fmt.Errorf("%w: %w", ctxErr, runErr)
	}
	return &Error{
		Command:     command,
		Diagnostics: diags,
		Output:      sink.redact.redact(stderr),
		Err:         err,
	}
}

// redactedError shows a redacted message but unwraps to the original, so
// errors.Is still sees terraform-exec's context errors.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
