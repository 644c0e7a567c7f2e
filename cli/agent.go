package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/agent"
	"github.com/opencoder/coder/codersdk"
)

func (r *Root) agentCmd() *cobra.Command {
	var (
		agentURL, token, tokenFile, auth, logFormat string
		verbose                                     bool
	)
	cmd := &cobra.Command{
		Use:    "agent",
		Short:  "Run the workspace agent (inside a workspace; started by the template's init script)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if auth != "token" {
				return fmt.Errorf("--auth %q: only token authentication is supported", auth)
			}
			if token == "" && tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("read agent token file: %w", err)
				}
				token = strings.TrimSpace(string(b))
			}
			if token == "" {
				return errors.New("no agent token: set CODER_AGENT_TOKEN or CODER_AGENT_TOKEN_FILE (the template passes coder_agent.<name>.token)")
			}
			if agentURL == "" {
				return errors.New("no coderd URL: set CODER_AGENT_URL")
			}
			u, err := parseURL(agentURL)
			if err != nil {
				return err
			}
			logger, err := newLogger(logFormat, verbose, os.Stderr)
			if err != nil {
				return err
			}
			client := codersdk.New(u)
			client.SetSessionToken(token)
			// The token must not leak into user sessions.
			_ = os.Unsetenv("CODER_AGENT_TOKEN")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger.Info("starting agent", "url", u.String())
			return agent.New(agent.Options{Client: client, Logger: logger}).Run(ctx)
		},
	}
	fs := cmd.Flags()
	g := r.Getenv
	flagString(fs, g, &agentURL, "agent-url", "CODER_AGENT_URL", "", "URL of coderd.")
	flagString(fs, g, &token, "agent-token", "CODER_AGENT_TOKEN", "", "The agent's token.")
	flagString(fs, g, &tokenFile, "agent-token-file", "CODER_AGENT_TOKEN_FILE", "", "File holding the agent's token.")
	flagString(fs, g, &auth, "auth", "CODER_AGENT_AUTH", "token", "How the agent authenticates: token.")
	flagString(fs, g, &logFormat, "log-format", "CODER_AGENT_LOG_FORMAT", "human", "Log format: human or json.")
	flagBool(fs, g, &verbose, "verbose", "CODER_AGENT_VERBOSE", false, "Log debug messages.")
	return cmd
}
