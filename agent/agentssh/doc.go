// Package agentssh is the workspace agent's SSH server: shells, commands,
// terminals, SFTP and TCP port forwarding inside the workspace, served to
// users over the tailnet (port 1 and 22 on the agent's tailnet address).
// It speaks SSH and decides what a session runs (Server.CreateCommand:
// shell, directory, environment); starting and ending the processes
// themselves is package agentexec's job.
//
// # Authentication
//
// The server accepts every client: "none", password, public-key and
// keyboard-interactive authentication all succeed, and the user name is
// ignored (commands run as the agent's user). This is deliberate: the
// listener is only reachable through the tailnet, and the coordinator only
// lets users who may connect to this workspace exchange WireGuard keys with
// the agent. Never serve this package on a listener reachable any other way.
// The host key is likewise not a trust anchor; by default it is generated at
// start, and clients skip host-key checks.
//
// # What a session gets
//
//   - "shell" runs the user's login shell (argv[0] "-bash" etc.), "exec"
//     runs `SHELL -c COMMAND`, in Options.Dir (default $HOME).
//   - The environment is the agent's own (never CODER_AGENT_TOKEN), plus
//     HOME, USER, LOGNAME, SHELL, Options.Env (the agent's CODER_* variables
//     and PATH with `coder` first), the client's "env" requests (all
//     accepted), SSH_CLIENT and SSH_CONNECTION, and for terminals TERM and
//     SSH_TTY.
//   - "pty-req" gives the command a real pseudo-terminal; "window-change"
//     resizes it. Output is sent unmodified (no newline translation).
//   - "signal" requests reach the process; the exit status, or the signal
//     that killed it ("exit-signal"), is reported to the client.
//   - The "sftp" subsystem is served in-process (sftp, scp in its default
//     SFTP mode, sshfs). Legacy "scp -O" and rsync work as plain exec
//     commands when the scp or rsync binaries are installed in the workspace.
//   - "direct-tcpip" (ssh -L) and "tcpip-forward"/"cancel-tcpip-forward"
//     (ssh -R) forward TCP. Agent, X11 and Unix-socket forwarding are not
//     offered.
//
// # Lifetimes
//
// Every command runs in its own process group, on a terminal or pipes
// from package agentexec (which the reconnecting terminals share). When its
// session ends early (the client closes the channel or the connection
// drops), the group gets SIGHUP and, agentexec.KillGrace later, SIGKILL. A command that exits on its own
// leaves its background jobs alone, like sshd (nohup keeps working). After
// a command exits, its output is forwarded until EOF, as sshd does; for a
// terminal, until the terminal is quiet for a moment, because a background
// job may hold it open forever.
//
// Every goroutine the server starts is joined by Close; Shutdown lets
// active sessions finish first.
package agentssh
