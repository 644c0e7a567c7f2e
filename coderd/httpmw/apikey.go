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

// ExtractAPIKey authenticates the request by its session or API token.
func ExtractAPIKey(opts APIKeyOptions) func(http.Handler) http.Handler {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token := TokenFromRequest(r)
			unauthorized := func(msg, detail string) {
				if opts.Optional {
					next.ServeHTTP(w, r)
					return
				}
				httpapi.Error(w, http.StatusUnauthorized, msg, detail)
			}
			if token == "" {
				unauthorized("You must be logged in to do this.",
					"No session token: send the "+codersdk.SessionTokenHeader+" header or the "+codersdk.SessionTokenCookie+" cookie.")
				return
			}
			id, secret, err := apikey.Parse(token)
			if err != nil {
				unauthorized("Invalid session token.", err.Error())
				return
			}
			ctx := r.Context()
			key, err := opts.DB.GetAPIKeyByID(ctx, id)
			if errors.Is(err, database.ErrNotFound) || (err == nil && !apikey.Matches(secret, key.HashedSecret)) {
				unauthorized("Invalid session token.", "The token does not exist or was revoked.")
				return
			}
			if err != nil {
				httpapi.InternalError(w, r, opts.Logger, "look up session token", err)
				return
			}
			t := now()
			if !t.Before(key.ExpiresAt) {
				unauthorized("Session token expired.", "It expired at "+key.ExpiresAt.UTC().Format(time.RFC3339)+". Log in again.")
				return
			}
			user, err := opts.DB.GetUserByID(ctx, key.UserID)
			if errors.Is(err, database.ErrNotFound) {
				unauthorized("Invalid session token.", "The token's user no longer exists.")
				return
			}
			if err != nil {
				httpapi.InternalError(w, r, opts.Logger, "look up token user", err)
				return
			}
			if user.Status != string(codersdk.UserStatusActive) {
				unauthorized("Your account is "+user.Status+".", "Contact an administrator.")
				return
			}
			orgs, err := opts.DB.GetOrganizationIDsByUserIDs(ctx, []uuid.UUID{user.ID})
			if err != nil {
				httpapi.InternalError(w, r, opts.Logger, "look up memberships", err)
				return
			}
			if t.Sub(key.LastUsed) > usageWriteInterval {
				expires := key.ExpiresAt
				if key.LoginType == string(codersdk.LoginTypePassword) && opts.SessionLifetime > 0 {
					// Sessions slide; named tokens keep their fixed expiry.
					expires = t.Add(opts.SessionLifetime)
				}
				ip := remoteIP(r)
				if err := opts.DB.UpdateAPIKeyUsage(ctx, key.ID, t, expires, ip); err != nil {
					opts.Logger.WarnContext(ctx, "record token use", slog.Any("error", err))
				}
				if err := opts.DB.UpdateUserLastSeen(ctx, user.ID, t); err != nil {
					opts.Logger.WarnContext(ctx, "record user last seen", slog.Any("error", err))
				}
			}
			roles := append([]string{codersdk.RoleMember}, user.RBACRoles...)
			actor := Actor{User: user, APIKey: key, Subject: rbac.Subject{ID: user.ID, Roles: roles, OrgIDs: orgs[user.ID]}}
			next.ServeHTTP(w, r.WithContext(WithActor(ctx, actor)))
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
