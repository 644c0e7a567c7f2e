// Package reconnectingpty serves terminals that survive dropped
// connections: the agent's "reconnecting PTY" service (port 2 on its
// tailnet address), used by the web terminal and `coder ssh`-less clients.
//
// A terminal is a process on a pseudo-terminal (both from package
// agentexec, as SSH's are), named by a client-chosen UUID. The agent builds
// the process with agentssh.Server.CreateCommand, so a terminal gets the
// same shell, directory and environment as an SSH session. Connecting with
// the same id again reattaches to the same process: the server first
// replays a bounded scrollback (the last
// Options.ScrollbackSize bytes of output, 64 KiB by default, so output
// produced while nobody was attached is visible), then streams live output.
// Any number of connections may be attached to one terminal at once; all
// receive the same output and may all send input. A terminal with no
// attached connection is killed after Options.Timeout (5 minutes by
// default); a terminal whose process exits closes its connections.
//
// # Wire protocol
//
// Over any reliable byte stream (a tailnet TCP connection):
//
//  1. The client sends a 2-byte little-endian length N (at most 65535),
//     then N bytes of JSON:
//
//     {"id": "<uuid>", "height": 24, "width": 80, "command": "htop"}
//
//     id names the terminal. height and width (in cells) size a new
//     terminal and resize an existing one. command is run by the user's
//     shell (SHELL -c COMMAND) when the terminal is created; empty means a
//     login shell. It is ignored when reattaching.
//
//  2. From then on the server sends raw terminal output bytes, starting with
//     the scrollback replay, until the process exits or the connection is
//     dropped (a client too slow to keep up is disconnected; it may simply
//     reattach).
//
//  3. The client sends a stream of JSON objects, one per input event,
//     either field optional:
//
//     {"data": "ls\r", "height": 40, "width": 120}
//
//     data is written to the terminal as if typed; a height and width that
//     are both non-zero resize it. Objects are applied in order.
//
// There is no explicit close message: the client closes the connection to
// detach, and the terminal keeps running until the timeout.
package reconnectingpty
