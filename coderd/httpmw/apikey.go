// Package httpmw holds coderd's HTTP middleware: authentication (API keys),
// request IDs, panic recovery, logging, rate limiting and the refusal of URLs
// PostgreSQL text cannot hold (ValidText). Middleware puts
// what it learns in the request context; handlers read it with the
// accessors here.
package httpmw

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/apikey"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// Actor is the authenticated caller.
type Actor struct {
	User    database.User
	APIKey  database.APIKey
	Subject rbac.Subject
}

type actorKey struct{}

// ActorFrom returns the caller set by ExtractAPIKey; ok is false for
// unauthenticated requests.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// WithActor stores an actor in ctx (tests and internal callers).
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// APIKeyOptions configure ExtractAPIKey.
type APIKeyOptions struct {
	DB     *database.Store
	Logger *slog.Logger
	// Optional lets unauthenticated requests through (without an actor).
	Optional bool
	// SessionLifetime is how far each use of a session pushes its expiry.
	SessionLifetime time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// usageWriteInterval throttles last-used writes: one per key per minute is
// enough for "last used" to be meaningful and keeps reads cheap.
const usageWriteInterval = time.Minute

// TokenFromRequest returns the token in the header or cookie.
func TokenFromRequest(r *http.Request) string {
	if t := r.Header.Get(codersdk.SessionTokenHeader); t != "" {
		return t
	}
	if c, err := r.Cookie(codersdk.SessionTokenCookie); err == nil {
		return c.Value
	}
	return ""
}

// AuthError is why a token was refused: a message and detail for the
// 401 answer, or Internal for a failure to look it up (a 500).
type AuthError struct {
	Message, Detail string
	// Internal is set when the check itself failed (the database).
	Internal error
}

func (e *AuthError) Error() string {
	if e.Internal != nil {
		return e.Message + ": " + e.Internal.Error()
	}
	return e.Message + " " + e.Detail
}

// Authenticate checks a session or API token and returns its actor, and
// records its use (at most once a minute). It is the one check behind
// ExtractAPIKey and every other place that meets a token outside the API's
// middleware (workspace apps). ip may be nil.
func (opts APIKeyOptions) Authenticate(ctx context.Context, token string, ip *netip.Addr) (Actor, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if token == "" {
		return Actor{}, &AuthError{Message: "You must be logged in to do this.",
			Detail: "No session token: send the " + codersdk.SessionTokenHeader + " header or the " + codersdk.SessionTokenCookie + " cookie."}
	}
	id, secret, err := apikey.Parse(token)
	if err != nil {
		return Actor{}, &AuthError{Message: "Invalid session token.", Detail: err.Error()}
	}
	key, err := opts.DB.GetAPIKeyByID(ctx, id)
	if errors.Is(err, database.ErrNotFound) || (err == nil && !apikey.Matches(secret, key.HashedSecret)) {
		return Actor{}, &AuthError{Message: "Invalid session token.", Detail: "The token does not exist or was revoked."}
	}
	if err != nil {
		return Actor{}, &AuthError{Message: "look up session token", Internal: err}
	}
	t := now()
	if !t.Before(key.ExpiresAt) {
		return Actor{}, &AuthError{Message: "Session token expired.", Detail: "It expired at " + key.ExpiresAt.UTC().Format(time.RFC3339) + ". Log in again."}
	}
	user, err := opts.DB.GetUserByID(ctx, key.UserID)
	if errors.Is(err, database.ErrNotFound) {
		return Actor{}, &AuthError{Message: "Invalid session token.", Detail: "The token's user no longer exists."}
	}
	if err != nil {
		return Actor{}, &AuthError{Message: "look up token user", Internal: err}
	}
	if user.Status != string(codersdk.UserStatusActive) {
		return Actor{}, &AuthError{Message: "Your account is " + user.Status + ".", Detail: "Contact an administrator."}
	}
	orgs, err := opts.DB.GetOrganizationIDsByUserIDs(ctx, []uuid.UUID{user.ID})
	if err != nil {
		return Actor{}, &AuthError{Message: "look up memberships", Internal: err}
	}
	if t.Sub(key.LastUsed) > usageWriteInterval {
		expires := key.ExpiresAt
		if key.LoginType == string(codersdk.LoginTypePassword) && opts.SessionLifetime > 0 {
			// Sessions slide; named tokens keep their fixed expiry.
			expires = t.Add(opts.SessionLifetime)
		}
		if err := opts.DB.UpdateAPIKeyUsage(ctx, key.ID, t, expires, ip); err != nil {
			opts.Logger.WarnContext(ctx, "record token use", slog.Any("error", err))
		}
		if err := opts.DB.UpdateUserLastSeen(ctx, user.ID, t); err != nil {
			opts.Logger.WarnContext(ctx, "record user last seen", slog.Any("error", err))
		}
	}
	roles := append([]string{codersdk.RoleMember}, user.RBACRoles...)
	return Actor{User: user, APIKey: key, Subject: rbac.Subject{ID: user.ID, Roles: roles, OrgIDs: orgs[user.ID]}}, nil
}

// ExtractAPIKey authenticates the request by its session or API token.
func ExtractAPIKey(opts APIKeyOptions) func(http.Handler) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			actor, err := opts.Authenticate(r.Context(), TokenFromRequest(r), remoteIP(r))
			if err != nil {
				var ae *AuthError
				if errors.As(err, &ae) && ae.Internal != nil {
					httpapi.InternalError(w, r, opts.Logger, ae.Message, ae.Internal)
					return
				}
				if opts.Optional {
					next.ServeHTTP(w, r)
					return
				}
				httpapi.Error(w, http.StatusUnauthorized, ae.Message, ae.Detail)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithActor(r.Context(), actor)))
		})
	}
}

// remoteIP is the client address (RemoteAddr; proxies are not trusted).
func remoteIP(r *http.Request) *netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host := r.RemoteAddr
		if i := strings.LastIndex(host, ":"); i > 0 {
			host = host[:i]
		}
		a, err := netip.ParseAddr(strings.Trim(host, "[]"))
		if err != nil {
			return nil
		}
		return &a
	}
	a := ap.Addr().Unmap()
	return &a
}

// RemoteIP exposes remoteIP to handlers (audit entries, rate limits).
func RemoteIP(r *http.Request) *netip.Addr { return remoteIP(r) }
