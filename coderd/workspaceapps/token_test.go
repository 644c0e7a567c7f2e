package workspaceapps

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestTokenSignVerify(t *testing.T) {
	t.Parallel()
	keys, err := NewKeys()
	require.NoError(t, err)
	now := time.Now()
	req := Request{Method: AccessSubdomain, Username: "alice", WorkspaceName: "ws", Slug: "code", BasePath: "/"}
	tok := Token{Request: req, UserID: uuid.New(), AgentID: uuid.New(), TargetURL: "http://localhost:8080", Expiry: now.Add(time.Minute)}
	signed, err := keys.Sign(tok)
	require.NoError(t, err)

	got, err := keys.Verify(signed, req, now)
	require.NoError(t, err)
	require.Equal(t, tok.AgentID, got.AgentID)

	other := req
	other.Slug = "other"
	otherKeys, err := NewKeys()
	require.NoError(t, err)
	body, sig, _ := strings.Cut(signed, ".")
	tests := map[string]struct {
		token string
		req   Request
		now   time.Time
		keys  Keys
	}{
		"expired":       {signed, req, now.Add(time.Minute), keys},
		"another app":   {signed, other, now, keys},
		"another key":   {signed, req, now, otherKeys},
		"tampered body": {"e30" + body[3:] + "." + sig, req, now, keys},
		"no signature":  {body, req, now, keys},
		"garbage":       {"%%%.%%%", req, now, keys},
		"empty":         {"", req, now, keys},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.keys.Verify(tc.token, tc.req, tc.now)
			require.ErrorIs(t, err, ErrBadToken)
		})
	}
}

func TestTicketEncryptDecrypt(t *testing.T) {
	t.Parallel()
	keys, err := NewKeys()
	require.NoError(t, err)
	now := time.Now()
	req := Request{Method: AccessSubdomain, Username: "alice", WorkspaceName: "ws", Slug: "code", BasePath: "/"}
	tok := Token{Request: req, UserID: uuid.New(), Expiry: now.Add(time.Minute), Nonce: "n1"}
	ticket, err := keys.Encrypt(tok)
	require.NoError(t, err)
	require.NotContains(t, ticket, "alice", "a ticket cannot be read")

	got, err := keys.Decrypt(ticket, req, now)
	require.NoError(t, err)
	require.Equal(t, tok.UserID, got.UserID)

	_, err = keys.Decrypt(ticket, req, now.Add(2*time.Minute))
	require.ErrorIs(t, err, ErrBadToken)
	flipped := []byte(ticket)
	flipped[len(flipped)/2] ^= 1
	_, err = keys.Decrypt(string(flipped), req, now)
	require.ErrorIs(t, err, ErrBadToken)

	var used usedTickets
	for _, c := range []struct {
		at   time.Time
		want bool
		why  string
	}{
		{now, true, "first use"},
		{now, false, "a ticket works once"},
		{now.Add(2 * time.Minute), true, "expired nonces are forgotten"},
	} {
		fresh, err := used.UseTicket(t.Context(), "n1", tok.Expiry, c.at)
		require.NoError(t, err)
		require.Equal(t, c.want, fresh, c.why)
	}
}
