package codersdk

// Agent metadata: a coder_agent's metadata blocks are scripts the agent runs
// every interval seconds; the trimmed output (or why it failed) is shown in
// the dashboard and by `coder show`. The wire shapes are the incumbent's:
// the agent posts {"metadata":[{"key":..,"collected_at":..,"age":..,
// "value":..,"error":..}]} (result fields flat beside the key, as Coder's
// agentsdk.Metadata embeds WorkspaceAgentMetadataResult), and users watch
// GET /workspaceagents/{id}/watch-metadata, server-sent events whose data
// is []WorkspaceAgentMetadata.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

const (
	// MaxAgentMetadataValueBytes bounds a result's value and error. The
	// agent truncates what a script prints to it; coderd refuses longer
	// values with 400, so a client that does not truncate learns why.
	MaxAgentMetadataValueBytes = 4096
	// DefaultAgentMetadataTimeoutOnce is the timeout (seconds) of a
	// metadata item with neither interval nor timeout, as in the incumbent.
	DefaultAgentMetadataTimeoutOnce = 5
)

// WorkspaceAgentMetadataDescription is one metadata block of a coder_agent
// as users see it.
type WorkspaceAgentMetadataDescription struct {
	DisplayName string `json:"display_name"`
	Key         string `json:"key"`
	Script      string `json:"script"`
	// Interval is in seconds; 0 means the script runs once, at start.
	Interval int64 `json:"interval"`
	// Timeout is in seconds; 0 means the interval (or 5 when that is 0).
	Timeout int64 `json:"timeout"`
}

// WorkspaceAgentMetadataResult is the latest run of one metadata script.
type WorkspaceAgentMetadataResult struct {
	// CollectedAt is when coderd received the result (the agent's clock
	// may be skewed); zero until the agent has reported.
	CollectedAt time.Time `json:"collected_at"`
	// Age is the number of seconds since CollectedAt, as of the answer.
	Age   int64  `json:"age"`
	Value string `json:"value"`
	Error string `json:"error"`
}

// WorkspaceAgentMetadata is a metadata item with its latest result.
type WorkspaceAgentMetadata struct {
	Result      WorkspaceAgentMetadataResult      `json:"result"`
	Description WorkspaceAgentMetadataDescription `json:"description"`
}

// AgentMetadataReport is one item of an agent's metadata report.
type AgentMetadataReport struct {
	Key string `json:"key"`
	WorkspaceAgentMetadataResult
}

// PostAgentMetadataRequest is a batch of changed metadata results.
type PostAgentMetadataRequest struct {
	Metadata []AgentMetadataReport `json:"metadata"`
}

// MetadataDescription is the user-facing description of m.
func (m ProvisionerAgentMetadata) MetadataDescription() WorkspaceAgentMetadataDescription {
	return WorkspaceAgentMetadataDescription{DisplayName: m.DisplayName, Key: m.Key, Script: m.Script, Interval: m.Interval, Timeout: m.Timeout}
}

// EffectiveTimeout is how long one run of m may take, in seconds: its
// timeout, else its interval, else DefaultAgentMetadataTimeoutOnce (the
// provider has no default timeout; this is the incumbent agent's rule).
func (m ProvisionerAgentMetadata) EffectiveTimeout() int64 {
	switch {
	case m.Timeout > 0:
		return m.Timeout
	case m.Interval > 0:
		return m.Interval
	}
	return DefaultAgentMetadataTimeoutOnce
}

// ValidateAgentMetadata checks an agent's metadata blocks: every key
// non-empty and unique within the agent, and no negative interval
// or timeout. Interval 0 is valid (the incumbent runs such a script once,
// at start) and timeout 0 means the default (EffectiveTimeout). Each
// problem is one error naming the block by index and key. An empty script
// is not checked: at plan time a script computed from another resource is
// not known yet and reads as empty.
func ValidateAgentMetadata(md []ProvisionerAgentMetadata) []error {
	var errs []error
	seen := map[string]int{}
	for i, m := range md {
		where := fmt.Sprintf("metadata[%d]", i)
		if m.Key != "" {
			where += fmt.Sprintf(" (key %q)", m.Key)
		}
		if m.Key == "" {
			errs = append(errs, fmt.Errorf("%s: key is empty", where))
		} else if j, dup := seen[m.Key]; dup {
			errs = append(errs, fmt.Errorf("%s: duplicate key, also used by metadata[%d]; keys must be unique per agent", where, j))
		} else {
			seen[m.Key] = i
		}
		if m.Interval < 0 {
			errs = append(errs, fmt.Errorf("%s: interval %d is negative (seconds; 0 runs the script once)", where, m.Interval))
		}
		if m.Timeout < 0 {
			errs = append(errs, fmt.Errorf("%s: timeout %d is negative (seconds; 0 means the interval)", where, m.Timeout))
		}
	}
	return errs
}

// PostAgentMetadata reports changed metadata results (agent token).
func (c *Client) PostAgentMetadata(ctx context.Context, req PostAgentMetadataRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v2/workspaceagents/me/metadata", req, http.StatusNoContent, nil)
}

// ErrStopWatching, returned by a WatchWorkspaceAgentMetadata callback, ends
// the watch without an error.
var ErrStopWatching = errors.New("stop watching")

// WatchWorkspaceAgentMetadata follows an agent's metadata: fn gets the full
// set on connect and again on every change, until ctx ends, fn returns an
// error (ErrStopWatching ends the watch cleanly) or the server closes the
// stream.
func (c *Client) WatchWorkspaceAgentMetadata(ctx context.Context, agentID uuid.UUID, fn func([]WorkspaceAgentMetadata) error) error {
	resp, err := c.Request(ctx, http.MethodGet, "/api/v2/workspaceagents/"+agentID.String()+"/watch-metadata", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ReadBodyAsError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var event string
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0: // end of an event
			if event == "data" && data.Len() > 0 {
				var md []WorkspaceAgentMetadata
				if err := json.Unmarshal(data.Bytes(), &md); err != nil {
					return fmt.Errorf("decode metadata event: %w", err)
				}
				if err := fn(md); err != nil {
					if errors.Is(err, ErrStopWatching) {
						return nil
					}
					return err
				}
			} else if event == "error" {
				return fmt.Errorf("watch metadata: server error: %s", strconv.Quote(data.String()))
			}
			event = ""
			data.Reset()
		case bytes.HasPrefix(line, []byte("event:")):
			event = string(bytes.TrimSpace(line[len("event:"):]))
		case bytes.HasPrefix(line, []byte("data:")):
			data.Write(bytes.TrimPrefix(line[len("data:"):], []byte(" ")))
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read metadata events: %w", err)
	}
	return ctx.Err()
}
