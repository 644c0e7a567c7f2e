package provisionerd

import (
	"context"
	"errors"
	"net/http"

	"github.com/opencoder/coder/codersdk"
)

// JobError is a job failure with the error code coderd records
// (codersdk.JobErrorCode*). Runners return it (wrapped or not) so the daemon
// reports the right code; clients switch on the code, never on the text.
type JobError struct {
	// Code is one of the codersdk.JobErrorCode* constants.
	Code string
	Err  error
}

func (e *JobError) Error() string { return e.Err.Error() }

func (e *JobError) Unwrap() error { return e.Err }

// ErrorCode is the code a runner error is reported with: the Code of a
// *JobError in its chain, CANCELED for a context error, INTERNAL otherwise.
func ErrorCode(err error) string {
	var je *JobError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &je) && je.Code != "":
		return je.Code
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return codersdk.JobErrorCodeCanceled
	default:
		return codersdk.JobErrorCodeInternal
	}
}

// Sentinel causes of a job's cancellation (context.Cause of its context).
var (
	// ErrDaemonShutdown interrupts running jobs when Shutdown's grace ran
	// out or Close was called; they are reported with DAEMON_SHUTDOWN.
	ErrDaemonShutdown = errors.New("provisioner daemon shutting down")
	// errJobCanceled: coderd said the job was canceled (UpdateJob).
	errJobCanceled = errors.New("job canceled")
	// errJobLost: coderd no longer considers this daemon the job's worker
	// (the job was reaped or taken over); nothing may be reported for it.
	errJobLost = errors.New("job lost")
)

// callKind classifies an error of a call to coderd.
type callKind int

const (
	// callRetry: the network or coderd failed (unreachable, restarting,
	// 5xx, 429, a timeout). Retry with backoff.
	callRetry callKind = iota
	// callLost: 404 or 409 on a job call. The job is gone or belongs to
	// another worker now: stop running it.
	callLost
	// callRejected: any other 4xx. Retrying the same request cannot help.
	callRejected
)

func classify(err error) callKind {
	var apiErr *codersdk.Error
	if !errors.As(err, &apiErr) {
		return callRetry
	}
	switch code := apiErr.StatusCode(); {
	case code == http.StatusNotFound, code == http.StatusConflict, code == http.StatusGone:
		return callLost
	case code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
		return callRetry
	case code >= 400 && code < 500:
		return callRejected
	default:
		return callRetry
	}
}

// fatalAcquireError reports whether an acquire failure means this daemon
// can never work against this coderd as configured: bad credentials (401,
// 403), a request coderd rejects (400, e.g. bad tags) or a coderd that does
// not serve the provisioner protocol (404, version skew). Retrying would
// only hide the problem, so the daemon stops and says why.
func fatalAcquireError(err error) bool {
	var apiErr *codersdk.Error
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.StatusCode() {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return false
}
