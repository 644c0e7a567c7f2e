// Package builtinpg runs the built-in PostgreSQL that `coder server` uses when
// no --postgres-url is given, and that tests use through dbtestutil.
//
// It does not bundle PostgreSQL: it runs the machine's own server binaries
// (initdb, postgres), found on PATH or in Debian's /usr/lib/postgresql/N/bin.
// A cluster lives in one directory, normally <config-dir>/postgres:
//
//	Dir/password   the superuser's password (0600), also used by ReadURL
//	Dir/port       the TCP port last used, reused while it stays free
//	Dir/lock       flock held by the process that runs the server
//	Dir/data       the PostgreSQL data directory (created by initdb)
//
// The server is a direct child process (never a daemon started by pg_ctl):
// on Linux it gets a parent-death signal, so it cannot outlive its owner. It
// listens only on 127.0.0.1 with scram-sha-256 password authentication and
// no unix socket, and holds one superuser, `coder`, and one database, `coder`.
//
// PostgreSQL refuses to run as root. When the caller is root, initdb and
// postgres run as the owner of an existing data directory, else as the system
// user `postgres` (present once Debian's package is installed), else as
// `nobody`. Only Dir/data is chowned to that user; Dir and the password file
// stay private to root. On Linux the child reaches its data directory through
// an inherited directory descriptor (-D /proc/self/fd/3), so the directories
// above it (say /root, mode 0700) need not be opened up to that user.
//
// House rules: no package-level mutable state; every child process is waited
// for by exactly one goroutine, owned by Server and joined by Stop.
package builtinpg
