package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// A coder_script with a cron schedule runs on it (here every second, in
// the provider's six-field form), its output in the agent's logs; one with
// a schedule that does not parse says so and never runs.
func TestCronScripts(t *testing.T) {
	t.Parallel()
	owner, agentID, token := setupWorkspace(t, nil, []codersdk.ProvisionerScript{
		{DisplayName: "Tick", Cron: "* * * * * *", Script: `echo "tick $(date +%s%N)"`},
		{DisplayName: "Broken", Cron: "every tuesday", Script: `echo never`},
	})
	client := codersdk.New(owner.URL)
	client.SetSessionToken(token)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.New(agent.Options{Client: client, Logger: testutil.Logger(t)}).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(time.Minute):
			t.Error("agent did not stop")
		}
	})
	tctx := testutil.Context(t, 2*time.Minute)
	var all string
	require.Eventually(t, func() bool {
		ls, err := owner.WorkspaceAgentLogs(tctx, agentID, 0)
		if err != nil {
			return false
		}
		var b strings.Builder
		for _, l := range ls {
			b.WriteString(l.Output + "\n")
		}
		all = b.String()
		return strings.Count(all, "tick ") >= 3 && strings.Contains(all, `cron schedule "every tuesday" does not parse`)
	}, testutil.WaitLong, 200*time.Millisecond, "logs so far:\n%s", all)
	require.NotContains(t, all, "never")
}
