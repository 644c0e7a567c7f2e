package codersdk

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// Limits of the web terminal's query, enforced by coderd (400 naming the
// field when exceeded).
const (
	// ReconnectingPTYMaxSize is the largest width or height, in cells.
	ReconnectingPTYMaxSize = 1000
	// ReconnectingPTYMaxCommand bounds the command's length in bytes.
	ReconnectingPTYMaxCommand = 4096
	// ReconnectingPTYMaxMessage bounds one websocket message from the
	// browser (a paste larger than this closes the connection).
	ReconnectingPTYMaxMessage = 256 << 10
)

// WorkspaceAgentPTYOptions open a web terminal on an agent:
// GET /api/v2/workspaceagents/{id}/pty?reconnect=&width=&height=[&command=].
type WorkspaceAgentPTYOptions struct {
	// Reconnect names the terminal: connecting again with the same ID
	// reattaches and replays its scrollback.
	Reconnect uuid.UUID
	// Width and Height size the terminal, in cells (1..ReconnectingPTYMaxSize).
	Width, Height uint16
	// Command runs instead of a login shell when the terminal is created.
	Command string
}

// ReconnectingPTYRequest is one message to a web terminal's websocket (a
// JSON text message): Data is typed into the terminal, and a non-zero
// Height and Width resize it. The server answers with the terminal's raw
// output bytes in binary messages; a normal closure (1000) means the
// terminal's process ended.
type ReconnectingPTYRequest struct {
	Data   string `json:"data,omitempty"`
	Height uint16 `json:"height,omitempty"`
	Width  uint16 `json:"width,omitempty"`
}

// WorkspaceAgentPTY opens a web terminal's websocket (as the browser does).
// A refusal before the upgrade is returned as *Error (400 naming the bad
// query field, 404, 409 when the agent is not connected).
func (c *Client) WorkspaceAgentPTY(ctx context.Context, agentID uuid.UUID, opts WorkspaceAgentPTYOptions) (*websocket.Conn, error) {
	q := url.Values{}
	q.Set("reconnect", opts.Reconnect.String())
	q.Set("width", strconv.Itoa(int(opts.Width)))
	q.Set("height", strconv.Itoa(int(opts.Height)))
	if opts.Command != "" {
		q.Set("command", opts.Command)
	}
	conn, err := c.dialWebsocket(ctx, "/api/v2/workspaceagents/"+agentID.String()+"/pty?"+q.Encode())
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(ReconnectingPTYMaxMessage)
	return conn, nil
}

// WorkspaceAgentPing is one round trip from coderd to an agent, for the
// dashboard's connection badge.
type WorkspaceAgentPing struct {
	// LatencyMS is the round trip in milliseconds (fractional).
	LatencyMS float64 `json:"latency_ms"`
	// P2P is true when coderd reaches the agent directly; otherwise
	// through the DERP relay DERPRegionID (named DERPRegion).
	P2P          bool   `json:"p2p"`
	DERPRegionID int    `json:"derp_region_id,omitempty"`
	DERPRegion   string `json:"derp_region,omitempty"`
}

// WorkspaceAgentPing pings the agent from coderd.
func (c *Client) WorkspaceAgentPing(ctx context.Context, agentID uuid.UUID) (WorkspaceAgentPing, error) {
	var out WorkspaceAgentPing
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspaceagents/"+agentID.String()+"/ping", nil, http.StatusOK, &out)
}
