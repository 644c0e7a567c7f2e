package provisionerdserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"maps"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/apikey"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// daemonAuth is what a daemon proved about itself, stored in the request
// context by DaemonAuth for the job handlers.
type daemonAuth struct {
	OrgID uuid.UUID
	KeyID *uuid.UUID
	// KeyTags, when not nil, are the key's tags: authoritative.
	KeyTags map[string]string
}

type daemonAuthKey struct{}

func daemonFrom(ctx context.Context) daemonAuth {
	return ctx.Value(daemonAuthKey{}).(daemonAuth)
}

// KeyPrefix marks provisioner keys so they are never confused
// with user tokens.
const KeyPrefix = "cpk_"

// DaemonAuth is the middleware of the job routes: it accepts a provisioner
// key, the pre-shared key, or (through userAuth, coderd's session
// middleware) the session token of an owner or template admin.
func (s *Server) DaemonAuth(userAuth func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			key := r.Header.Get(codersdk.ProvisionerDaemonKeyHeader)
			psk := r.Header.Get(codersdk.ProvisionerDaemonPSKHeader)
			switch {
			case key != "" && psk != "":
				httpapi.Error(w, http.StatusBadRequest, "Send either a provisioner key or a pre-shared key, not both.")
			case key != "":
				secret, ok := strings.CutPrefix(key, KeyPrefix)
				if !ok {
					httpapi.Error(w, http.StatusUnauthorized, "Invalid provisioner key.", "Keys start with "+KeyPrefix+"; create one with 'coder provisioner keys create NAME'.")
					return
				}
				k, err := s.opts.DB.GetProvisionerKeyByHashedSecret(ctx, apikey.Hash(secret))
				if errors.Is(err, database.ErrNotFound) {
					httpapi.Error(w, http.StatusUnauthorized, "Invalid provisioner key.", "The key does not exist or was deleted.")
					return
				}
				if err != nil {
					httpapi.InternalError(w, r, s.opts.Logger, "look up provisioner key", err)
					return
				}
				tags := database.DefaultTags()
				maps.Copy(tags, k.Tags)
				next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, daemonAuthKey{}, daemonAuth{OrgID: k.OrganizationID, KeyID: &k.ID, KeyTags: tags})))
			case psk != "":
				okExternal := s.opts.PSK != "" && subtle.ConstantTimeCompare([]byte(psk), []byte(s.opts.PSK)) == 1
				okBuiltin := s.opts.BuiltinPSK != "" && subtle.ConstantTimeCompare([]byte(psk), []byte(s.opts.BuiltinPSK)) == 1
				if !okExternal && !okBuiltin {
					httpapi.Error(w, http.StatusUnauthorized, "Invalid pre-shared key.", "It must match the server's --provisioner-daemon-psk.")
					return
				}
				org, err := s.opts.DB.EnsureDefaultOrganization(ctx, s.now())
				if err != nil {
					httpapi.InternalError(w, r, s.opts.Logger, "get default organization", err)
					return
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, daemonAuthKey{}, daemonAuth{OrgID: org.ID})))
			default:
				userAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					actor, _ := httpmw.ActorFrom(r.Context())
					org, err := s.opts.DB.EnsureDefaultOrganization(r.Context(), s.now())
					if err != nil {
						httpapi.InternalError(w, r, s.opts.Logger, "get default organization", err)
						return
					}
					if !rbac.Authorize(actor.Subject, rbac.ActionCreate, rbac.Object{Type: rbac.ResourceProvisioner, OrgID: org.ID}) {
						httpapi.Forbidden(w)
						return
					}
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), daemonAuthKey{}, daemonAuth{OrgID: org.ID})))
				})).ServeHTTP(w, r)
			}
		})
	}
}
