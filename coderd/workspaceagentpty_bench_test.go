package coderd_test

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent/agentexec"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// BenchmarkKeystrokeEcho measures one keystroke's round trip: typed into
// `cat` on a terminal, until the terminal's echo of it comes back. "coderd"
// goes browser websocket -> coderd -> coderd's tailnet node -> agent's
// reconnecting PTY and back (everything on loopback, so this is the
// software path's cost); "local" is the same terminal opened directly in
// this process, the floor. Figures only; nothing is asserted about them.
//
//	go run ./scripts/testpg -- go test ./coderd -run '^$' -bench KeystrokeEcho
func BenchmarkKeystrokeEcho(b *testing.B) {
	b.Run("coderd", func(b *testing.B) {
		d := newPTYDeployment(b, nil)
		d.startAgent(b)
		ctx := testutil.Context(b, testutil.WaitLong)
		ws, err := d.owner.WorkspaceAgentPTY(ctx, d.agentID, codersdk.WorkspaceAgentPTYOptions{
			Reconnect: uuid.New(), Width: 80, Height: 24, Command: "exec cat",
		})
		require.NoError(b, err)
		defer ws.Close(websocket.StatusNormalClosure, "")
		readEcho := func(want byte) {
			for {
				_, msg, err := ws.Read(ctx)
				require.NoError(b, err)
				if bytes.IndexByte(msg, want) >= 0 {
					return
				}
			}
		}
		key := func(c byte) {
			require.NoError(b, wsjson.Write(ctx, ws, codersdk.ReconnectingPTYRequest{Data: string(c)}))
			readEcho(c)
		}
		benchKeys(b, key)
	})
	b.Run("local", func(b *testing.B) {
		p, err := agentexec.OpenPTY(24, 80)
		require.NoError(b, err)
		defer p.Close()
		cmd := exec.Command("cat")
		require.NoError(b, p.Start(cmd))
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		buf := make([]byte, 4096)
		key := func(c byte) {
			_, err := p.Write([]byte{c})
			require.NoError(b, err)
			for {
				n, err := p.Read(buf)
				require.NoError(b, err)
				if bytes.IndexByte(buf[:n], c) >= 0 {
					return
				}
			}
		}
		benchKeys(b, key)
	})
}

// benchKeys types letters through key, one per iteration, ending a line
// now and then so the terminal's line buffer never fills (the newline's
// echo is awaited outside the timer).
func benchKeys(b *testing.B, key func(byte)) {
	key('\r') // warm up: the first echo also waits for the process to start
	n := 0
	for b.Loop() {
		key('a' + byte(n%26))
		n++
		if n%64 == 0 {
			b.StopTimer()
			key('\r')
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(max(n, 1)), "us/keystroke")
}
