package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/codersdk"
)

// publickeyCmd prints the caller's git SSH public key, the one to add to
// GitHub or GitLab so workspaces can use git over SSH. The key alone goes
// to stdout (so `coder publickey | gh ssh-key add -` works); the hint goes
// to stderr.
func (r *Root) publickeyCmd() *cobra.Command {
	var reset, yes bool
	cmd := &cobra.Command{
		Use:     "publickey",
		Aliases: []string{"pubkey"},
		Short:   "Print your public key for git over SSH in your workspaces",
		Long: "Print the public half of the SSH key pair the server keeps for you. Add it to your git provider " +
			"(GitHub, GitLab...) once; your workspaces use the private half for git over SSH.\n" +
			"--reset replaces the pair: the old public key stops working wherever you added it.",
		Args: cobra.NoArgs,
		RunE: r.withClient(nil, func(ctx context.Context, client *codersdk.Client, _ []string) error {
			var (
				key codersdk.GitSSHKey
				err error
			)
			if reset {
				q := "Regenerate your git SSH key? The old public key stops working wherever you added it, and you must add the new one"
				if err := r.confirm(newPrompter(r.Stdin, r.Stderr), yes, true, q); err != nil {
					return err
				}
				key, err = client.RegenerateGitSSHKey(ctx, codersdk.Me)
				if err != nil {
					return wrapAPI("regenerate git ssh key", err)
				}
				fmt.Fprintln(r.Stderr, "A new git SSH key was generated; add it to your git provider in place of the old one.")
			} else {
				key, err = client.GitSSHKey(ctx, codersdk.Me)
				if err != nil {
					return wrapAPI("get git ssh key", err)
				}
			}
			fmt.Fprintln(r.Stderr, "This is your public key for git over SSH in your workspaces. Add it to your git provider:")
			fmt.Fprintln(r.Stderr, "  GitHub: https://github.com/settings/ssh/new   GitLab: https://gitlab.com/-/user_settings/ssh_keys")
			if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(key.PublicKey)); err == nil {
				fmt.Fprintf(r.Stderr, "Fingerprint: %s\n\n", ssh.FingerprintSHA256(pub))
			}
			fmt.Fprintln(r.Stdout, key.PublicKey)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&reset, "reset", false, "Replace your key pair with a new one (asks first).")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation.")
	return cmd
}
