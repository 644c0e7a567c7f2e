package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

func (r *Root) loginCmd() *cobra.Command {
	var username, email, password string
	cmd := &cobra.Command{
		Use:   "login [URL]",
		Short: "Authenticate with a deployment (and create its first user if it has none)",
		Long: `Authenticate with a deployment and save the session in the config directory.

On a new deployment this creates the first user (the owner): interactively on a
terminal, or from --first-user-username/--first-user-email/--first-user-password.
With --token (or CODER_SESSION_TOKEN) the token is checked and saved as is.`,
		Example: "  coder login http://127.0.0.1:3000 --first-user-username admin --first-user-email admin@example.com --first-user-password 'SomePass!234'",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			raw := r.urlFlag
			if len(args) == 1 {
				raw = args[0]
			}
			if raw == "" {
				raw, _ = r.config().read("url")
			}
			if raw == "" {
				return errors.New("no URL given: run 'coder login <url>'")
			}
			u, err := parseURL(raw)
			if err != nil {
				return err
			}
			client := codersdk.New(u)
			if _, err := client.BuildInfo(ctx); err != nil {
				return wrapAPI(fmt.Sprintf("reach %s", u), err)
			}
			in := newPrompter(r.Stdin, r.Stderr)
			var token string
			switch {
			case r.token != "":
				token = r.token
			default:
				hasFirst, err := client.HasFirstUser(ctx)
				if err != nil {
					return wrapAPI("check for a first user", err)
				}
				if !hasFirst {
					if token, err = r.createFirstUser(ctx, client, in, username, email, password); err != nil {
						return err
					}
					break
				}
				if email == "" {
					email = username
				}
				if email == "" || password == "" {
					if !in.interactive() {
						return errors.New("not a terminal: pass --token (or set CODER_SESSION_TOKEN), or --first-user-email and --first-user-password to log in with a password")
					}
					if email == "" {
						if email, err = in.line("Email or username: "); err != nil {
							return err
						}
					}
					if password == "" {
						if password, err = in.secret("Password: "); err != nil {
							return err
						}
					}
				}
				resp, err := client.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: email, Password: password})
				if err != nil {
					return wrapAPI("log in", err)
				}
				token = resp.SessionToken
			}
			client.SetSessionToken(token)
			me, err := client.User(ctx, codersdk.Me)
			if err != nil {
				return wrapAPI("check session", err)
			}
			if err := r.config().write("url", u.String()); err != nil {
				return err
			}
			if err := r.config().write("session", token); err != nil {
				return err
			}
			fmt.Fprintf(r.Stdout, "Welcome to Coder, %s! You're authenticated to %s.\n", me.Username, u)
			return nil
		},
	}
	fs := cmd.Flags()
	flagString(fs, r.Getenv, &username, "first-user-username", "CODER_FIRST_USER_USERNAME", "", "Username of the first user (created when the deployment has none).")
	flagString(fs, r.Getenv, &email, "first-user-email", "CODER_FIRST_USER_EMAIL", "", "Email of the first user; also used to log in when the deployment already has users.")
	flagString(fs, r.Getenv, &password, "first-user-password", "CODER_FIRST_USER_PASSWORD", "", "Password of the first user; also used to log in when the deployment already has users.")
	return cmd
}

func (r *Root) createFirstUser(ctx context.Context, client *codersdk.Client, in *prompter, username, email, password string) (string, error) {
	var err error
	if username == "" || email == "" || password == "" {
		if !in.interactive() {
			return "", errors.New("this deployment has no users yet: pass --first-user-username, --first-user-email and --first-user-password to create the owner")
		}
		fmt.Fprintln(r.Stderr, "This deployment has no users yet. Create the first one (the owner):")
		if username == "" {
			if username, err = in.line("Username: "); err != nil {
				return "", err
			}
		}
		if email == "" {
			if email, err = in.line("Email: "); err != nil {
				return "", err
			}
		}
		if password == "" {
			if password, err = in.secret("Password: "); err != nil {
				return "", err
			}
			confirm, err := in.secret("Confirm password: ")
			if err != nil {
				return "", err
			}
			if confirm != password {
				return "", errors.New("passwords do not match")
			}
		}
	}
	if _, err := client.CreateFirstUser(ctx, codersdk.CreateFirstUserRequest{Username: username, Email: email, Password: password}); err != nil {
		return "", wrapAPI("create first user", err)
	}
	resp, err := client.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: email, Password: password})
	if err != nil {
		return "", wrapAPI("log in as the first user", err)
	}
	return resp.SessionToken, nil
}

func (r *Root) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "End the session and forget it",
		Args:  cobra.NoArgs,
		RunE: r.withClient(nil, func(ctx context.Context, client *codersdk.Client, _ []string) error {
			if err := client.Logout(ctx); err != nil && !codersdk.IsStatus(err, http.StatusUnauthorized) {
				return wrapAPI("log out", err)
			}
			if err := r.config().remove("session"); err != nil {
				return fmt.Errorf("remove saved session: %w", err)
			}
			fmt.Fprintln(r.Stdout, "You are logged out.")
			return nil
		}),
	}
}

func (r *Root) whoamiCmd() *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are logged in as, and where",
		Args:  cobra.NoArgs,
		RunE: r.withClient(&out, func(ctx context.Context, client *codersdk.Client, _ []string) error {
			me, err := client.User(ctx, codersdk.Me)
			if err != nil {
				return wrapAPI("get your user", err)
			}
			return out.say(r.Stdout, me, "Coder is running at %s, you're authenticated as %s (%s).\n", client.URL, me.Username, me.Email)
		}),
	}
	out.attach(cmd)
	return cmd
}
