package workspaceapps

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Cookie names. The app token cookie is host-only on a subdomain app and
// path-scoped on a path app, so it never reaches another app.
const (
	TokenCookie = "coder_app_token"
	// TicketParam carries a subdomain app's one-time ticket in the URL of
	// the redirect that delivers it; the app origin swaps it for a cookie
	// and redirects again without it.
	TicketParam = "coder_app_ticket"
)

// Token is the signed statement "UserID may reach this app, at this
// agent port, until Expiry". It is what the proxy checks on each request.
type Token struct {
	Request Request   `json:"request"`
	UserID  uuid.UUID `json:"user_id"`
	// AgentID and TargetURL are where the proxy sends the request: the
	// app's URL as the agent sees it (http://localhost:8080/base).
	AgentID   uuid.UUID `json:"agent_id"`
	TargetURL string    `json:"target_url"`
	Expiry    time.Time `json:"expiry"`
	// Nonce makes every ticket unique, so a used one can be refused.
	Nonce string `json:"nonce,omitempty"`
}

// Keys sign app tokens and encrypt tickets. Every replica must use the
// same keys (coderd keeps them in the database).
type Keys struct {
	Signing    []byte // HMAC-SHA256 key, 32+ bytes
	Encryption []byte // AES-256-GCM key, exactly 32 bytes
}

// NewKeys returns fresh random keys.
func NewKeys() (Keys, error) {
	k := Keys{Signing: make([]byte, 32), Encryption: make([]byte, 32)}
	if _, err := rand.Read(k.Signing); err != nil {
		return Keys{}, fmt.Errorf("app signing key: %w", err)
	}
	if _, err := rand.Read(k.Encryption); err != nil {
		return Keys{}, fmt.Errorf("app encryption key: %w", err)
	}
	return k, nil
}

var b64 = base64.RawURLEncoding

// ErrBadToken covers every reason a token or ticket is refused: forged,
// expired, for another app, replayed. Callers re-authorize from scratch.
var ErrBadToken = errors.New("invalid app token")

// Sign encodes a token as base64(json).base64(hmac).
func (k Keys) Sign(t Token) (string, error) {
	body, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encode app token: %w", err)
	}
	mac := hmac.New(sha256.New, k.Signing)
	mac.Write(body)
	return b64.EncodeToString(body) + "." + b64.EncodeToString(mac.Sum(nil)), nil
}

// Verify checks a signed token's signature and expiry and that it names
// the app req addresses.
func (k Keys) Verify(s string, req Request, now time.Time) (Token, error) {
	bodyPart, sigPart, ok := strings.Cut(s, ".")
	if !ok {
		return Token{}, ErrBadToken
	}
	body, err1 := b64.DecodeString(bodyPart)
	sig, err2 := b64.DecodeString(sigPart)
	if err1 != nil || err2 != nil {
		return Token{}, ErrBadToken
	}
	mac := hmac.New(sha256.New, k.Signing)
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return Token{}, ErrBadToken
	}
	var t Token
	if err := json.Unmarshal(body, &t); err != nil {
		return Token{}, ErrBadToken
	}
	if !now.Before(t.Expiry) || t.Request.Key() != req.Key() {
		return Token{}, ErrBadToken
	}
	return t, nil
}

// Encrypt seals a token into a ticket for a URL (AES-GCM: a ticket can be
// neither read nor altered by whoever sees the URL).
func (k Keys) Encrypt(t Token) (string, error) {
	gcm, err := k.gcm()
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encode app ticket: %w", err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("app ticket nonce: %w", err)
	}
	return b64.EncodeToString(gcm.Seal(nonce, nonce, body, nil)), nil
}

// Decrypt opens a ticket and checks its expiry and app.
func (k Keys) Decrypt(s string, req Request, now time.Time) (Token, error) {
	gcm, err := k.gcm()
	if err != nil {
		return Token{}, err
	}
	raw, err := b64.DecodeString(s)
	if err != nil || len(raw) < gcm.NonceSize() {
		return Token{}, ErrBadToken
	}
	body, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil)
	if err != nil {
		return Token{}, ErrBadToken
	}
	var t Token
	if err := json.Unmarshal(body, &t); err != nil {
		return Token{}, ErrBadToken
	}
	if !now.Before(t.Expiry) || t.Request.Key() != req.Key() {
		return Token{}, ErrBadToken
	}
	return t, nil
}

func (k Keys) gcm() (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.Encryption)
	if err != nil {
		return nil, fmt.Errorf("app encryption key: %w", err)
	}
	return cipher.NewGCM(block)
}

// TicketStore remembers which sign-in tickets were redeemed, so each works
// once. coderd keeps them in the database, shared by every replica (a
// ticket redeemed on one is refused on the others); the default, for a
// Server on its own, is memory.
type TicketStore interface {
	// UseTicket marks nonce used (its ticket expires at expiry) and
	// reports whether it was unused until now.
	UseTicket(ctx context.Context, nonce string, expiry, now time.Time) (bool, error)
}

// usedTickets is the in-memory TicketStore: nonces until they expire.
type usedTickets struct {
	mu   sync.Mutex
	seen map[string]time.Time // nonce -> expiry; guarded by mu
}

// UseTicket implements TicketStore.
func (u *usedTickets) UseTicket(_ context.Context, nonce string, expiry, now time.Time) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil {
		u.seen = map[string]time.Time{}
	}
	for n, exp := range u.seen {
		if !now.Before(exp) {
			delete(u.seen, n)
		}
	}
	if _, dup := u.seen[nonce]; dup {
		return false, nil
	}
	u.seen[nonce] = expiry
	return true, nil
}
