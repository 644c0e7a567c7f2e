// Package agentexec starts and ends the workspace's user processes for the
// agent's servers: pseudo-terminals registered with Go's poller (so Close
// and read deadlines unblock readers), process groups that are ended with
// SIGHUP and, KillGrace later, SIGKILL when their session or terminal goes
// away, and the user's login shell, home and working directory.
//
// It is shared by the SSH server (agent/agentssh) and the reconnecting
// terminals (agent/reconnectingpty), so every way into a workspace starts
// and ends processes the same way. It knows nothing of either protocol.
//
// House rules: Linux (Unix) only; no goroutine outlives the call that
// started it (Process.Wait joins its own waiter); a Process is never
// signalled after it was reaped, because its pid may have been reused.
package agentexec
