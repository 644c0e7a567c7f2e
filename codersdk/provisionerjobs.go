package codersdk

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/google/uuid"
)

// ProvisionerJobStatus is derived from a job's timestamps and error, the
// same way everywhere (a generated column in the database).
type ProvisionerJobStatus string

// Job statuses.
const (
	ProvisionerJobPending   ProvisionerJobStatus = "pending"
	ProvisionerJobRunning   ProvisionerJobStatus = "running"
	ProvisionerJobSucceeded ProvisionerJobStatus = "succeeded"
	ProvisionerJobCanceling ProvisionerJobStatus = "canceling"
	ProvisionerJobCanceled  ProvisionerJobStatus = "canceled"
	ProvisionerJobFailed    ProvisionerJobStatus = "failed"
)

// Active reports whether the job has not ended yet.
func (s ProvisionerJobStatus) Active() bool {
	return s == ProvisionerJobPending || s == ProvisionerJobRunning || s == ProvisionerJobCanceling
}

// ProvisionerJobType is what a job does.
type ProvisionerJobType string

// Job types.
const (
	ProvisionerJobTypeTemplateVersionImport ProvisionerJobType = "template_version_import"
	ProvisionerJobTypeWorkspaceBuild        ProvisionerJobType = "workspace_build"
)

// ProvisionerJobInput links a job to what it builds.
type ProvisionerJobInput struct {
	TemplateVersionID *uuid.UUID `json:"template_version_id,omitempty"`
	WorkspaceBuildID  *uuid.UUID `json:"workspace_build_id,omitempty"`
}

// ProvisionerJob is one unit of work on the queue.
type ProvisionerJob struct {
	ID             uuid.UUID            `json:"id"`
	CreatedAt      time.Time            `json:"created_at"`
	StartedAt      *time.Time           `json:"started_at,omitempty"`
	CompletedAt    *time.Time           `json:"completed_at,omitempty"`
	CanceledAt     *time.Time           `json:"canceled_at,omitempty"`
	Error          string               `json:"error,omitempty"`
	ErrorCode      string               `json:"error_code,omitempty"`
	Status         ProvisionerJobStatus `json:"status"`
	WorkerID       *uuid.UUID           `json:"worker_id,omitempty"`
	FileID         uuid.UUID            `json:"file_id"`
	Tags           map[string]string    `json:"tags"`
	QueuePosition  int                  `json:"queue_position"`
	QueueSize      int                  `json:"queue_size"`
	OrganizationID uuid.UUID            `json:"organization_id"`
	Type           ProvisionerJobType   `json:"type"`
	Input          ProvisionerJobInput  `json:"input"`
	// MatchedProvisioners, for a pending job, counts the daemons that could
	// take it, so a client can say when none is running instead of showing
	// a queue that never moves.
	MatchedProvisioners *MatchedProvisioners `json:"matched_provisioners,omitempty"`
}

// MatchedProvisioners counts the provisioner daemons whose tags (and
// provisioner) let them take a job: Count seen in the last 24 hours,
// Available of those seen in the last 90 seconds (connected now).
type MatchedProvisioners struct {
	Count     int `json:"count"`
	Available int `json:"available"`
}

// LogSource says who wrote a job log line.
type LogSource string

// Log sources.
const (
	LogSourceProvisionerDaemon LogSource = "provisioner_daemon"
	LogSourceProvisioner       LogSource = "provisioner"
)

// ProvisionerJobLog is one stored log line of a job; IDs increase in
// order, so `after=ID` resumes a stream.
type ProvisionerJobLog struct {
	ID        int64               `json:"id"`
	CreatedAt time.Time           `json:"created_at"`
	Source    LogSource           `json:"log_source"`
	Level     ProvisionerLogLevel `json:"log_level"`
	Stage     string              `json:"stage"`
	Output    string              `json:"output"`
}

// streamJobLogs returns a job's logs after the given ID. With follow, the
// channel stays open (over a websocket) until the job ends or ctx does; the
// error function tells why the stream ended (nil for a job that ended).
func (c *Client) streamJobLogs(ctx context.Context, path string, after int64, follow bool) (<-chan ProvisionerJobLog, func() error, error) {
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	if !follow {
		var logs []ProvisionerJobLog
		if err := c.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, http.StatusOK, &logs); err != nil {
			return nil, nil, err
		}
		ch := make(chan ProvisionerJobLog, len(logs))
		for _, l := range logs {
			ch <- l
		}
		close(ch)
		return ch, func() error { return nil }, nil
	}
	q.Set("follow", "true")
	u, err := c.URL.Parse(path + "?" + q.Encode())
	if err != nil {
		return nil, nil, fmt.Errorf("parse logs url: %w", err)
	}
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient: c.HTTPClient,
		HTTPHeader: c.wsHeader(),
	})
	if err != nil {
		if resp != nil {
			return nil, nil, ReadBodyAsError(resp)
		}
		return nil, nil, fmt.Errorf("follow logs: %w", err)
	}
	conn.SetReadLimit(1 << 22)
	ch := make(chan ProvisionerJobLog, 64)
	var streamErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		defer conn.CloseNow()
		for {
			var l ProvisionerJobLog
			if err := wsjson.Read(ctx, conn, &l); err != nil {
				if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
					streamErr = fmt.Errorf("read log stream: %w", err)
				}
				return
			}
			select {
			case ch <- l:
			case <-ctx.Done():
				streamErr = ctx.Err()
				return
			}
		}
	}()
	return ch, func() error { <-done; return streamErr }, nil
}

func (c *Client) wsHeader() http.Header {
	h := http.Header{}
	for k, v := range c.Header {
		h[k] = v
	}
	if tok := c.SessionToken(); tok != "" {
		h.Set(SessionTokenHeader, tok)
	}
	return h
}
