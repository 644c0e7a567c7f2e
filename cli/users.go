package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

func (r *Root) usersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "users",
		Aliases: []string{"user"},
		Short:   "Manage users",
	}
	cmd.AddCommand(r.usersCreateCmd(), r.usersListCmd(), r.usersShowCmd(),
		r.usersStatusCmd("suspend", codersdk.UserStatusSuspended), r.usersStatusCmd("activate", codersdk.UserStatusActive))
	return cmd
}

func (r *Root) usersCreateCmd() *cobra.Command {
	var (
		req codersdk.CreateUserRequestWithOrgs
		lt  string
		out outputFormat
	)
	cmd := &cobra.Command{
		Use:     "create",
		Short:   "Create a user (owner or user-admin)",
		Example: "  coder users create --username alice --email alice@example.com --password 'Secret!234'",
		Args:    cobra.NoArgs,
		RunE: r.withClient(&out, func(ctx context.Context, client *codersdk.Client, _ []string) error {
			req.UserLoginType = codersdk.LoginType(lt)
			u, err := client.CreateUser(ctx, req)
			if err != nil {
				return wrapAPI("create user", err)
			}
			return out.say(r.Stdout, u, "Created user %s (%s). They can log in with 'coder login %s'.\n", u.Username, u.Email, client.URL)
		}),
	}
	fs := cmd.Flags()
	fs.StringVarP(&req.Username, "username", "u", "", "Username (letters, digits, hyphens).")
	fs.StringVarP(&req.Email, "email", "e", "", "Email address.")
	fs.StringVarP(&req.Name, "full-name", "n", "", "Full name.")
	fs.StringVarP(&req.Password, "password", "p", "", "Password (required for login type password).")
	fs.StringVar(&lt, "login-type", "password", "How the user logs in: password or none.")
	out.attach(cmd)
	return cmd
}

func userRows(users []codersdk.User) [][]string {
	rows := make([][]string, 0, len(users))
	for _, u := range users {
		roles := make([]string, 0, len(u.Roles))
		for _, ro := range u.Roles {
			roles = append(roles, ro.Name)
		}
		rows = append(rows, []string{u.Username, u.Email, string(u.Status), strings.Join(roles, ","), formatTime(u.CreatedAt), formatTime(u.LastSeenAt)})
	}
	return rows
}

var userHeader = []string{"username", "email", "status", "roles", "created at", "last seen"}

func (r *Root) usersListCmd() *cobra.Command {
	var (
		out    outputFormat
		search string
		status string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List users",
		Args:    cobra.NoArgs,
		RunE: r.withClient(&out, func(ctx context.Context, client *codersdk.Client, _ []string) error {
			res, err := client.Users(ctx, codersdk.UsersRequest{Search: search, Status: codersdk.UserStatus(status)})
			if err != nil {
				return wrapAPI("list users", err)
			}
			return out.write(r.Stdout, res.Users, userHeader, userRows(res.Users))
		}),
	}
	cmd.Flags().StringVar(&search, "search", "", "Only users whose username or email contains this.")
	cmd.Flags().StringVar(&status, "status", "", "Only users with this status: active, suspended or dormant.")
	out.attach(cmd)
	return cmd
}

func (r *Root) usersShowCmd() *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:   "show USER",
		Short: "Show a user (me, a username or an ID)",
		Args:  cobra.ExactArgs(1),
		RunE: r.withClient(&out, func(ctx context.Context, client *codersdk.Client, args []string) error {
			u, err := client.User(ctx, args[0])
			if err != nil {
				return wrapAPI("get user "+args[0], err)
			}
			return out.write(r.Stdout, u, userHeader, userRows([]codersdk.User{u}))
		}),
	}
	out.attach(cmd)
	return cmd
}

func (r *Root) usersStatusCmd(verb string, status codersdk.UserStatus) *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:   verb + " USER",
		Short: titleCase(verb) + " a user (a username or an ID)",
		Args:  cobra.ExactArgs(1),
		RunE: r.withClient(&out, func(ctx context.Context, client *codersdk.Client, args []string) error {
			u, err := client.UpdateUserStatus(ctx, args[0], status)
			if err != nil {
				return wrapAPI(verb+" user "+args[0], err)
			}
			return out.say(r.Stdout, u, "User %s is now %s.\n", u.Username, u.Status)
		}),
	}
	out.attach(cmd)
	return cmd
}
