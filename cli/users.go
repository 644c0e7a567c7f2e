package cli

import (
	"fmt"
	"strings"
	"time"

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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			client, err := r.client()
			if err != nil {
				return err
			}
			req.UserLoginType = codersdk.LoginType(lt)
			u, err := client.CreateUser(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("create user: %w", err)
			}
			if out.format == "json" {
				return out.write(r.Stdout, u, nil, nil)
			}
			fmt.Fprintf(r.Stdout, "Created user %s (%s). They can log in with 'coder login %s'.\n", u.Username, u.Email, client.URL)
			return nil
		},
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
		seen := "never"
		if !u.LastSeenAt.IsZero() && u.LastSeenAt.Year() > 1 {
			seen = u.LastSeenAt.Local().Format(time.DateTime)
		}
		rows = append(rows, []string{u.Username, u.Email, string(u.Status), strings.Join(roles, ","), u.CreatedAt.Local().Format(time.DateTime), seen})
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			client, err := r.client()
			if err != nil {
				return err
			}
			res, err := client.Users(cmd.Context(), codersdk.UsersRequest{Search: search, Status: codersdk.UserStatus(status)})
			if err != nil {
				return err
			}
			return out.write(r.Stdout, res.Users, userHeader, userRows(res.Users))
		},
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
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			client, err := r.client()
			if err != nil {
				return err
			}
			u, err := client.User(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return out.write(r.Stdout, u, userHeader, userRows([]codersdk.User{u}))
		},
	}
	out.attach(cmd)
	return cmd
}

func (r *Root) usersStatusCmd(verb string, status codersdk.UserStatus) *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:   verb + " USER",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a user (a username or an ID)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			client, err := r.client()
			if err != nil {
				return err
			}
			u, err := client.UpdateUserStatus(cmd.Context(), args[0], status)
			if err != nil {
				return fmt.Errorf("%s user: %w", verb, err)
			}
			if out.format == "json" {
				return out.write(r.Stdout, u, nil, nil)
			}
			fmt.Fprintf(r.Stdout, "User %s is now %s.\n", u.Username, u.Status)
			return nil
		},
	}
	out.attach(cmd)
	return cmd
}
