package codersdk

// Agent scripts (coder_script resources and the legacy coder_agent
// startup_script/shutdown_script): after every run (at start, at stop, or
// on its cron schedule) the agent reports how it ended to
// POST /workspaceagents/me/script-completed; coderd keeps the latest run of
// each script and the agent answer lists the scripts with it. Whether login
// waits for the start scripts follows start_blocks_login (the legacy
// startup_script_behavior "blocking").

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// AgentScriptStage says why a script ran.
type AgentScriptStage string

// The stages of a script run.
const (
	AgentScriptStageStart AgentScriptStage = "start"
	AgentScriptStageStop  AgentScriptStage = "stop"
	AgentScriptStageCron  AgentScriptStage = "cron"
)

// AgentScriptStatus is how a script run ended (the incumbent's timing
// statuses).
type AgentScriptStatus string

// The ways a script run ends.
const (
	// AgentScriptStatusOK: the script exited 0.
	AgentScriptStatusOK AgentScriptStatus = "ok"
	// AgentScriptStatusExitFailure: it exited non-zero, was killed, or
	// could not start.
	AgentScriptStatusExitFailure AgentScriptStatus = "exit_failure"
	// AgentScriptStatusTimedOut: it outlived its timeout and was killed.
	AgentScriptStatusTimedOut AgentScriptStatus = "timed_out"
	// AgentScriptStatusPipesLeftOpen: it exited 0 but something it
	// started in the background kept its output open, so the agent
	// stopped waiting for that output (usually a missing `> /dev/null &`).
	AgentScriptStatusPipesLeftOpen AgentScriptStatus = "pipes_left_open"
)

// Valid reports whether s is one of the known statuses.
func (s AgentScriptStatus) Valid() bool {
	switch s {
	case AgentScriptStatusOK, AgentScriptStatusExitFailure, AgentScriptStatusTimedOut, AgentScriptStatusPipesLeftOpen:
		return true
	}
	return false
}

// Valid reports whether s is one of the known stages.
func (s AgentScriptStage) Valid() bool {
	switch s {
	case AgentScriptStageStart, AgentScriptStageStop, AgentScriptStageCron:
		return true
	}
	return false
}

// Startup script behaviors, the legacy coder_agent attribute the agent
// answer carries: "blocking" when a run-on-start script blocks login.
const (
	StartupScriptBehaviorBlocking    = "blocking"
	StartupScriptBehaviorNonBlocking = "non-blocking"
)

// PostAgentScriptCompletedRequest is one finished script run, as the agent
// reports it. ScriptIndex is the script's position in the manifest's
// Scripts; DisplayName must be that script's, so a report meant for
// another spec is refused rather than filed under the wrong script.
type PostAgentScriptCompletedRequest struct {
	ScriptIndex int               `json:"script_index"`
	DisplayName string            `json:"display_name"`
	Stage       AgentScriptStage  `json:"stage"`
	StartedAt   time.Time         `json:"started_at"`
	EndedAt     time.Time         `json:"ended_at"`
	ExitCode    int32             `json:"exit_code"`
	Status      AgentScriptStatus `json:"status"`
}

// WorkspaceAgentScriptRun is how a script's latest run went. Times are the
// agent's clock.
type WorkspaceAgentScriptRun struct {
	Stage     AgentScriptStage  `json:"stage"`
	Status    AgentScriptStatus `json:"status"`
	ExitCode  int32             `json:"exit_code"`
	StartedAt time.Time         `json:"started_at"`
	EndedAt   time.Time         `json:"ended_at"`
}

// WorkspaceAgentScript is one of an agent's scripts as users see it (not
// its source), with its latest run.
type WorkspaceAgentScript struct {
	DisplayName      string `json:"display_name"`
	Icon             string `json:"icon,omitempty"`
	Cron             string `json:"cron,omitempty"`
	RunOnStart       bool   `json:"run_on_start"`
	RunOnStop        bool   `json:"run_on_stop"`
	StartBlocksLogin bool   `json:"start_blocks_login"`
	TimeoutSeconds   int32  `json:"timeout_seconds"`
	LogPath          string `json:"log_path,omitempty"`
	// LastRun is nil until the agent has reported a run.
	LastRun *WorkspaceAgentScriptRun `json:"last_run"`
}

// BlocksLogin reports whether login waits for this script at start.
func (s WorkspaceAgentScript) BlocksLogin() bool { return s.RunOnStart && s.StartBlocksLogin }

// When says, for people, when the script runs: "start (blocks login),
// stop, cron 0 * * * *", or "-" for never (the CLI and the dashboard show
// the same words).
func (s WorkspaceAgentScript) When() string {
	var when []string
	switch {
	case s.BlocksLogin():
		when = append(when, "start (blocks login)")
	case s.RunOnStart:
		when = append(when, "start")
	}
	if s.RunOnStop {
		when = append(when, "stop")
	}
	if s.Cron != "" {
		when = append(when, "cron "+s.Cron)
	}
	if len(when) == 0 {
		return "-"
	}
	return strings.Join(when, ", ")
}

// StartupScriptBehavior is "blocking" when any run-on-start script blocks
// login, else "non-blocking".
func StartupScriptBehavior(scripts []ProvisionerScript) string {
	for _, s := range scripts {
		if s.RunOnStart && s.StartBlocksLogin {
			return StartupScriptBehaviorBlocking
		}
	}
	return StartupScriptBehaviorNonBlocking
}

// PostAgentScriptCompleted reports a finished script run (agent token).
func (c *Client) PostAgentScriptCompleted(ctx context.Context, req PostAgentScriptCompletedRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v2/workspaceagents/me/script-completed", req, http.StatusNoContent, nil)
}
