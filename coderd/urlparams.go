package coderd

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
)

// paramKey[T] is the context key of the object a URL parameter resolved
// to: one key per type, so a handler reads back exactly what its route's
// middleware stored.
type paramKey[T any] struct{}

// paramLoader resolves a raw URL parameter for the caller. It returns
// database.ErrNotFound when the parameter names nothing, a malformed one
// included.
type paramLoader[T any] func(ctx context.Context, actor httpmw.Actor, raw string) (T, error)

// extractParam is the middleware of every {object} route: it resolves the
// URL parameter name with load, answers 404 when it names nothing or when
// the caller may not read it (object gives what to authorize, so existence
// does not leak), 500 naming what on any other error, and stores the value
// for paramFrom.
func extractParam[T any](api *API, name, what string, load paramLoader[T], object func(T) rbac.Object) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			actor, _ := httpmw.ActorFrom(ctx)
			v, err := load(ctx, actor, chi.URLParam(r, name))
			if errors.Is(err, database.ErrNotFound) || (err == nil && !rbac.Authorize(actor.Subject, rbac.ActionRead, object(v))) {
				httpapi.ResourceNotFound(w)
				return
			}
			if err != nil {
				httpapi.InternalError(w, r, api.opts.Logger, "get "+what, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, paramKey[T]{}, v)))
		})
	}
}

// paramFrom returns the object extractParam stored; it panics on a route
// without that middleware, a wiring bug.
func paramFrom[T any](r *http.Request) T {
	return r.Context().Value(paramKey[T]{}).(T)
}

// byID is a paramLoader for objects named by UUID alone.
func byID[T any](get func(context.Context, uuid.UUID) (T, error)) paramLoader[T] {
	return func(ctx context.Context, _ httpmw.Actor, raw string) (T, error) {
		id, err := uuid.Parse(raw)
		if err != nil {
			var zero T
			return zero, database.ErrNotFound
		}
		return get(ctx, id)
	}
}
