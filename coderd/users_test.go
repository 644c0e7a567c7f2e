package coderd_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

func TestFirstUser(t *testing.T) {
	t.Parallel()
	client, _ := coderdtest.New(t, nil)
	ctx := testutil.Context(t, time.Minute)

	has, err := client.HasFirstUser(ctx)
	require.NoError(t, err)
	require.False(t, has)

	first := coderdtest.CreateFirstUser(t, client)
	has, err = client.HasFirstUser(ctx)
	require.NoError(t, err)
	require.True(t, has)

	_, err = client.CreateFirstUser(ctx, codersdk.CreateFirstUserRequest{Email: "b@example.com", Username: "b", Password: coderdtest.FirstUserPassword})
	requireStatus(t, err, http.StatusConflict)

	me, err := client.User(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, first.UserID, me.ID)
	require.Equal(t, []codersdk.SlimRole{{Name: codersdk.RoleOwner, DisplayName: "Owner"}}, me.Roles)
	require.Equal(t, []uuid.UUID{first.OrganizationID}, me.OrganizationIDs)
	require.Equal(t, codersdk.LoginTypePassword, me.LoginType)
	orgs, err := client.OrganizationsByUser(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Len(t, orgs, 1)
	require.True(t, orgs[0].IsDefault)

	res, err := client.Users(ctx, codersdk.UsersRequest{})
	require.NoError(t, err)
	require.Equal(t, 1, res.Count)
}

func TestFirstUserConcurrent(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, nil)
	ctx := testutil.Context(t, time.Minute)
	const n = 8
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		statuses = make([]int, n)
		errs     = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := client.CreateFirstUser(ctx, codersdk.CreateFirstUserRequest{
				Email: fmt.Sprintf("race%d@example.com", i), Username: fmt.Sprintf("race%d", i), Password: coderdtest.FirstUserPassword,
			})
			switch {
			case err == nil:
				statuses[i] = http.StatusCreated
			case codersdk.IsStatus(err, http.StatusConflict):
				statuses[i] = http.StatusConflict
			default:
				errs[i] = err
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var created int
	for _, s := range statuses {
		if s == http.StatusCreated {
			created++
		} else {
			require.Equal(t, http.StatusConflict, s)
		}
	}
	require.Equal(t, 1, created, "exactly one first user: %v", statuses)
	count, err := srv.DB.CountUsers(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, count)
}

func TestLogin(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, time.Minute)
	_, user := coderdtest.CreateAnotherUser(t, client)

	cases := []struct {
		name     string
		login    string
		password string
		want     int
	}{
		{"email", user.Email, coderdtest.FirstUserPassword, 201},
		{"username", user.Username, coderdtest.FirstUserPassword, 201},
		{"email any case", "USER" + user.Email[4:], coderdtest.FirstUserPassword, 201},
		{"wrong password", user.Email, "Wrong!234x", 401},
		{"password case matters", user.Email, "somepass!234", 401},
		{"unknown user", "nobody@example.com", coderdtest.FirstUserPassword, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			anon := codersdk.New(srv.URL)
			res, err := anon.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: c.login, Password: c.password})
			if c.want != 201 {
				requireStatus(t, err, c.want)
				// The same answer whether the user exists or not.
				var apiErr *codersdk.Error
				require.ErrorAs(t, err, &apiErr)
				require.Equal(t, "Incorrect email or password.", apiErr.Message)
				return
			}
			require.NoError(t, err)
			require.NotEmpty(t, res.SessionToken)
			anon.SetSessionToken(res.SessionToken)
			me, err := anon.User(ctx, codersdk.Me)
			require.NoError(t, err)
			require.Equal(t, user.ID, me.ID)
		})
	}

	t.Run("cookie", func(t *testing.T) {
		raw := call(ctx, t, srv, "POST", "/api/v2/users/login", "", codersdk.LoginWithPasswordRequest{Email: user.Email, Password: coderdtest.FirstUserPassword})
		require.Equal(t, 201, raw.status)
		cookie, err := http.ParseSetCookie(raw.header.Get("Set-Cookie"))
		require.NoError(t, err)
		require.Equal(t, codersdk.SessionTokenCookie, cookie.Name)
		require.True(t, cookie.HttpOnly)
		res := call(ctx, t, srv, "GET", "/api/v2/users/me", "", nil, func(r *http.Request) { r.AddCookie(cookie) })
		require.Equal(t, 200, res.status, "the cookie authenticates: %s", res.body)
	})
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	clock := &offsetClock{}
	client, srv := coderdtest.New(t, &coderdtest.Options{LoginRateBurst: 3, LoginRateInterval: time.Hour, Now: clock.now})
	ctx := testutil.Context(t, time.Minute)
	attempt := func() rawResponse {
		return call(ctx, t, srv, "POST", "/api/v2/users/login", "", codersdk.LoginWithPasswordRequest{Email: "x@example.com", Password: "Wrong!234x"})
	}
	for i := range 3 {
		require.Equal(t, 401, attempt().status, "attempt %d", i+1)
	}
	res := attempt()
	require.Equal(t, 429, res.status, "the 4th attempt: %s", res.body)
	retry, err := strconv.Atoi(res.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", res.header.Get("Retry-After"))
	require.Greater(t, retry, 0)
	require.LessOrEqual(t, retry, 3601)
	require.Equal(t, "Too many requests.", res.response(t).Message)

	// First-user creation shares the limit (it also takes a password).
	_, err = client.CreateFirstUser(ctx, codersdk.CreateFirstUserRequest{Email: "a@example.com", Username: "a", Password: coderdtest.FirstUserPassword})
	requireStatus(t, err, 429)
	// Other routes are not limited.
	require.Equal(t, 404, call(ctx, t, srv, "GET", "/api/v2/users/first", "", nil).status, "no first user yet, and no 429")

	clock.advance(time.Duration(retry) * time.Second)
	require.Equal(t, 401, attempt().status, "a token is back after Retry-After")
	require.Equal(t, 429, attempt().status)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, time.Minute)
	member, _ := coderdtest.CreateAnotherUser(t, client)
	// A second session of the same user survives the first's logout.
	other, err := codersdk.New(srv.URL).LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "admin@example.com", Password: coderdtest.FirstUserPassword})
	require.NoError(t, err)

	raw := call(ctx, t, srv, "POST", "/api/v2/users/logout", client.SessionToken(), nil)
	require.Equal(t, 200, raw.status)
	cookie, err := http.ParseSetCookie(raw.header.Get("Set-Cookie"))
	require.NoError(t, err)
	require.Equal(t, codersdk.SessionTokenCookie, cookie.Name)
	require.Negative(t, cookie.MaxAge, "the browser cookie is cleared")

	_, err = client.User(ctx, codersdk.Me)
	requireStatus(t, err, 401)
	requireStatus(t, client.Logout(ctx), 401)

	stillIn := codersdk.New(srv.URL)
	stillIn.SetSessionToken(other.SessionToken)
	_, err = stillIn.User(ctx, codersdk.Me)
	require.NoError(t, err)
	_, err = member.User(ctx, codersdk.Me)
	require.NoError(t, err)
}

func TestSuspendAndActivate(t *testing.T) {
	t.Parallel()
	owner, srv := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, owner)
	ctx := testutil.Context(t, time.Minute)
	member, user := coderdtest.CreateAnotherUser(t, owner)
	tok, err := member.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: "ci"})
	require.NoError(t, err)
	tokenClient := codersdk.New(srv.URL)
	tokenClient.SetSessionToken(tok.Key)
	_, err = tokenClient.User(ctx, codersdk.Me)
	require.NoError(t, err)

	got, err := owner.UpdateUserStatus(ctx, user.Username, codersdk.UserStatusSuspended)
	require.NoError(t, err)
	require.Equal(t, codersdk.UserStatusSuspended, got.Status)

	_, err = member.User(ctx, codersdk.Me)
	requireStatus(t, err, 401)
	_, err = tokenClient.User(ctx, codersdk.Me)
	requireStatus(t, err, 401)
	_, err = codersdk.New(srv.URL).LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: user.Email, Password: coderdtest.FirstUserPassword})
	requireStatus(t, err, 401)
	var apiErr *codersdk.Error
	require.ErrorAs(t, err, &apiErr)
	require.Contains(t, apiErr.Message, "suspended")

	list, err := owner.Users(ctx, codersdk.UsersRequest{Status: codersdk.UserStatusSuspended})
	require.NoError(t, err)
	require.Equal(t, 1, list.Count)
	require.Equal(t, user.ID, list.Users[0].ID)

	got, err = owner.UpdateUserStatus(ctx, user.ID.String(), codersdk.UserStatusActive)
	require.NoError(t, err)
	require.Equal(t, codersdk.UserStatusActive, got.Status)
	login, err := codersdk.New(srv.URL).LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: user.Email, Password: coderdtest.FirstUserPassword})
	require.NoError(t, err)
	member.SetSessionToken(login.SessionToken)
	_, err = member.User(ctx, codersdk.Me)
	require.NoError(t, err)
	// Revoked credentials stay revoked.
	_, err = tokenClient.User(ctx, codersdk.Me)
	requireStatus(t, err, 401)
	keys, err := member.Tokens(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Empty(t, keys)

	// Nobody suspends themselves.
	_, err = owner.UpdateUserStatus(ctx, codersdk.Me, codersdk.UserStatusSuspended)
	requireStatus(t, err, 400)
}

func TestTokens(t *testing.T) {
	t.Parallel()
	clock := &offsetClock{}
	owner, srv := coderdtest.New(t, &coderdtest.Options{Now: clock.now})
	coderdtest.CreateFirstUser(t, owner)
	ctx := testutil.Context(t, time.Minute)
	member, user := coderdtest.CreateAnotherUser(t, owner)

	created, err := member.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: "ci", Lifetime: 10 * time.Minute})
	require.NoError(t, err)
	require.NotEmpty(t, created.Key)

	keys, err := member.Tokens(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	key := keys[0]
	require.Equal(t, "ci", key.TokenName)
	require.Equal(t, user.ID, key.UserID)
	require.Equal(t, codersdk.LoginTypeToken, key.LoginType)
	require.Equal(t, codersdk.APIKeyScopeAll, key.Scope)
	require.EqualValues(t, 600, key.LifetimeSeconds)
	require.WithinDuration(t, key.CreatedAt.Add(10*time.Minute), key.ExpiresAt, time.Second)
	body, err := json.Marshal(keys)
	require.NoError(t, err)
	require.NotContains(t, string(body), created.Key[11:], "the secret is shown once, never listed")

	byName, err := member.APIKeyByName(ctx, codersdk.Me, "ci")
	require.NoError(t, err)
	require.Equal(t, key.ID, byName.ID)
	_, err = member.APIKeyByName(ctx, codersdk.Me, "nope")
	requireStatus(t, err, 404)
	// The owner sees it; the login session is not a named token.
	ownerView, err := owner.Tokens(ctx, user.Username)
	require.NoError(t, err)
	require.Len(t, ownerView, 1)

	// The token authenticates as the user.
	tc := codersdk.New(srv.URL)
	tc.SetSessionToken(created.Key)
	me, err := tc.User(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, user.ID, me.ID)

	_, err = member.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: "ci"})
	requireStatus(t, err, 409)
	// Names are per user.
	_, err = owner.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: "ci"})
	require.NoError(t, err)

	// Named tokens keep their expiry when used (sessions slide).
	clock.advance(5 * time.Minute)
	_, err = tc.User(ctx, codersdk.Me)
	require.NoError(t, err)
	after, err := member.APIKeyByName(ctx, codersdk.Me, "ci")
	require.NoError(t, err)
	require.Equal(t, key.ExpiresAt, after.ExpiresAt)
	require.True(t, after.LastUsed.After(key.LastUsed), "use is recorded")
	clock.advance(6 * time.Minute)
	_, err = tc.User(ctx, codersdk.Me)
	requireStatus(t, err, 401)
	var apiErr *codersdk.Error
	require.ErrorAs(t, err, &apiErr)
	require.Contains(t, apiErr.Message, "expired")

	// Delete: 204, then gone, then 404.
	require.NoError(t, member.DeleteAPIKey(ctx, codersdk.Me, key.ID))
	keys, err = member.Tokens(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Empty(t, keys)
	requireStatus(t, member.DeleteAPIKey(ctx, codersdk.Me, key.ID), 404)

	// Deleting a live token stops it at once.
	live, err := member.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: "live"})
	require.NoError(t, err)
	tc.SetSessionToken(live.Key)
	_, err = tc.User(ctx, codersdk.Me)
	require.NoError(t, err)
	liveKey, err := member.APIKeyByName(ctx, codersdk.Me, "live")
	require.NoError(t, err)
	require.NoError(t, owner.DeleteAPIKey(ctx, user.ID.String(), liveKey.ID))
	_, err = tc.User(ctx, codersdk.Me)
	requireStatus(t, err, 401)

	// A user may revoke their own session by ID too.
	sessionID := member.SessionToken()[:10]
	require.NoError(t, member.DeleteAPIKey(ctx, codersdk.Me, sessionID))
	_, err = member.User(ctx, codersdk.Me)
	requireStatus(t, err, 401)
}

func TestTokenLifetimeBounds(t *testing.T) {
	t.Parallel()
	client, _ := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, time.Minute)
	const day = 24 * time.Hour
	cases := []struct {
		lifetime time.Duration
		ok       bool
		expect   time.Duration // expected lifetime when ok
	}{
		{0, true, 30 * day}, // the default
		{time.Minute, true, time.Minute},
		{time.Minute - time.Nanosecond, false, 0},
		{time.Second, false, 0},
		{-time.Hour, false, 0},
		{365 * day, true, 365 * day},
		{365*day + time.Second, false, 0},
		{100 * 365 * day, false, 0},
	}
	for i, c := range cases {
		name := fmt.Sprintf("t%d", i)
		_, err := client.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: name, Lifetime: c.lifetime})
		if !c.ok {
			requireStatus(t, err, 400)
			var apiErr *codersdk.Error
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, "lifetime", apiErr.Validations[0].Field, "%s", c.lifetime)
			continue
		}
		require.NoError(t, err, "%s", c.lifetime)
		k, err := client.APIKeyByName(ctx, codersdk.Me, name)
		require.NoError(t, err)
		require.EqualValues(t, int64(c.expect.Seconds()), k.LifetimeSeconds, "%s", c.lifetime)
		require.WithinDuration(t, k.CreatedAt.Add(c.expect), k.ExpiresAt, time.Second)
	}
}

func TestSessionSlides(t *testing.T) {
	t.Parallel()
	clock := &offsetClock{}
	client, srv := coderdtest.New(t, &coderdtest.Options{Now: clock.now})
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, time.Minute)
	id := client.SessionToken()[:10]
	k0, err := srv.DB.GetAPIKeyByID(ctx, id)
	require.NoError(t, err)
	// Used every 20 hours, a 24-hour session never expires.
	for range 3 {
		clock.advance(20 * time.Hour)
		_, err := client.User(ctx, codersdk.Me)
		require.NoError(t, err)
	}
	k1, err := srv.DB.GetAPIKeyByID(ctx, id)
	require.NoError(t, err)
	require.True(t, k1.ExpiresAt.After(k0.ExpiresAt.Add(50*time.Hour)))
	// Left alone for longer, it does.
	clock.advance(25 * time.Hour)
	_, err = client.User(ctx, codersdk.Me)
	requireStatus(t, err, 401)
}

func TestUsersList(t *testing.T) {
	t.Parallel()
	owner, _ := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, owner)
	ctx := testutil.Context(t, time.Minute)
	member, me := coderdtest.CreateAnotherUser(t, owner)
	for range 4 {
		coderdtest.CreateAnotherUser(t, owner)
	}

	all, err := owner.Users(ctx, codersdk.UsersRequest{})
	require.NoError(t, err)
	require.Equal(t, 6, all.Count)
	require.Len(t, all.Users, 6)
	require.True(t, slices.IsSortedFunc(all.Users, func(a, b codersdk.User) int {
		return strings.Compare(strings.ToLower(a.Username), strings.ToLower(b.Username))
	}), "ordered by username")

	page, err := owner.Users(ctx, codersdk.UsersRequest{Limit: 2, Offset: 2})
	require.NoError(t, err)
	require.Equal(t, 6, page.Count, "count is the total, not the page")
	require.Equal(t, all.Users[2:4], page.Users)

	found, err := owner.Users(ctx, codersdk.UsersRequest{Search: me.Username})
	require.NoError(t, err)
	require.Equal(t, 1, found.Count)
	found, err = owner.Users(ctx, codersdk.UsersRequest{Search: "ADMIN@"})
	require.NoError(t, err)
	require.Equal(t, 1, found.Count, "search is case-insensitive and covers email")

	// A member sees only themselves.
	mine, err := member.Users(ctx, codersdk.UsersRequest{})
	require.NoError(t, err)
	require.Equal(t, 1, mine.Count)
	require.Equal(t, me.ID, mine.Users[0].ID)

	// Me, ID and username all name the same user.
	for _, ref := range []string{codersdk.Me, me.ID.String(), me.Username} {
		u, err := member.User(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, me.ID, u.ID)
	}
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	owner, srv := coderdtest.New(t, nil)
	first := coderdtest.CreateFirstUser(t, owner)
	ctx := testutil.Context(t, time.Minute)

	u, err := owner.CreateUser(ctx, codersdk.CreateUserRequestWithOrgs{Email: "alice@example.com", Username: "alice", Name: "Alice A.", Password: "Secret!234"})
	require.NoError(t, err)
	require.Equal(t, "alice", u.Username)
	require.Equal(t, "Alice A.", u.Name)
	require.Equal(t, codersdk.UserStatusActive, u.Status)
	require.Equal(t, []uuid.UUID{first.OrganizationID}, u.OrganizationIDs)
	require.Empty(t, u.Roles)

	for _, dup := range []codersdk.CreateUserRequestWithOrgs{
		{Email: "other@example.com", Username: "ALICE", Password: "Secret!234"},
		{Email: "ALICE@example.com", Username: "other", Password: "Secret!234"},
	} {
		_, err := owner.CreateUser(ctx, dup)
		requireStatus(t, err, 409)
	}

	// A user without a password cannot log in with one.
	svc, err := owner.CreateUser(ctx, codersdk.CreateUserRequestWithOrgs{Email: "svc@example.com", Username: "svc", UserLoginType: codersdk.LoginTypeNone})
	require.NoError(t, err)
	require.Equal(t, codersdk.LoginTypeNone, svc.LoginType)
	for _, pw := range []string{"", "Secret!234", "not-a-real-password"} {
		_, err = codersdk.New(srv.URL).LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "svc@example.com", Password: pw})
		require.Error(t, err, "password %q", pw)
	}
	// ...but an owner can mint a token for it.
	tok, err := owner.CreateToken(ctx, "svc", codersdk.CreateTokenRequest{TokenName: "bot"})
	require.NoError(t, err)
	bot := codersdk.New(srv.URL)
	bot.SetSessionToken(tok.Key)
	me, err := bot.User(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, svc.ID, me.ID)
}

func TestUpdateRoles(t *testing.T) {
	t.Parallel()
	owner, _ := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, owner)
	ctx := testutil.Context(t, time.Minute)
	admin, _ := coderdtest.CreateAnotherUser(t, owner, codersdk.RoleUserAdmin)
	_, target := coderdtest.CreateAnotherUser(t, owner)

	u, err := admin.UpdateUserRoles(ctx, target.Username, codersdk.UpdateRoles{Roles: []string{codersdk.RoleTemplateAdmin, codersdk.RoleMember, codersdk.RoleTemplateAdmin}})
	require.NoError(t, err)
	require.Equal(t, []codersdk.SlimRole{{Name: codersdk.RoleTemplateAdmin, DisplayName: "Template Admin"}}, u.Roles, "member is implicit; duplicates collapse")

	_, err = admin.UpdateUserRoles(ctx, target.Username, codersdk.UpdateRoles{Roles: []string{codersdk.RoleOwner}})
	requireStatus(t, err, 403)

	roles, err := admin.ListSiteRoles(ctx)
	require.NoError(t, err)
	assignable := map[string]bool{}
	for _, r := range roles {
		assignable[r.Name] = r.Assignable
	}
	require.Equal(t, map[string]bool{codersdk.RoleOwner: false, codersdk.RoleUserAdmin: true, codersdk.RoleTemplateAdmin: true, codersdk.RoleAuditor: true}, assignable)

	// An owner cannot demote themselves (the deployment keeps an owner).
	_, err = owner.UpdateUserRoles(ctx, codersdk.Me, codersdk.UpdateRoles{Roles: []string{}})
	requireStatus(t, err, 400)
	u, err = owner.UpdateUserRoles(ctx, target.ID.String(), codersdk.UpdateRoles{Roles: []string{}})
	require.NoError(t, err)
	require.Empty(t, u.Roles)
}

func TestAuditEntries(t *testing.T) {
	t.Parallel()
	owner, srv := coderdtest.New(t, nil)
	first := coderdtest.CreateFirstUser(t, owner)
	ctx := testutil.Context(t, time.Minute)
	auditor, _ := coderdtest.CreateAnotherUser(t, owner, codersdk.RoleAuditor)

	u, err := owner.CreateUser(ctx, codersdk.CreateUserRequestWithOrgs{Email: "carol@example.com", Username: "carol", Password: "Secret!234"})
	require.NoError(t, err)
	_, err = codersdk.New(srv.URL).LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "carol@example.com", Password: "Wrong!234x"})
	requireStatus(t, err, 401)
	_, err = codersdk.New(srv.URL).LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "ghost@example.com", Password: "Wrong!234x"})
	requireStatus(t, err, 401)
	carol := codersdk.New(srv.URL)
	login, err := carol.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "carol", Password: "Secret!234"})
	require.NoError(t, err)
	carol.SetSessionToken(login.SessionToken)
	_, err = carol.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: "audited"})
	require.NoError(t, err)
	k, err := carol.APIKeyByName(ctx, codersdk.Me, "audited")
	require.NoError(t, err)
	require.NoError(t, carol.DeleteAPIKey(ctx, codersdk.Me, k.ID))
	_, err = owner.UpdateUserRoles(ctx, "carol", codersdk.UpdateRoles{Roles: []string{codersdk.RoleAuditor}})
	require.NoError(t, err)
	_, err = owner.UpdateUserStatus(ctx, "carol", codersdk.UserStatusSuspended)
	require.NoError(t, err)

	byActor := func(a codersdk.AuditLog, id uuid.UUID) bool { return a.User != nil && a.User.ID == id }
	one := func(name string, pred func(codersdk.AuditLog) bool) codersdk.AuditLog {
		t.Helper()
		got := auditFind(t, auditor, pred)
		require.Len(t, got, 1, name)
		require.NotEqual(t, uuid.Nil, got[0].RequestID, name)
		require.NotEmpty(t, got[0].IP, name)
		require.False(t, got[0].Time.IsZero(), name)
		return got[0]
	}

	one("first user registered", func(a codersdk.AuditLog) bool {
		return a.Action == codersdk.AuditActionRegister && a.ResourceID == first.UserID && a.StatusCode == 201
	})
	created := one("user created", func(a codersdk.AuditLog) bool {
		return a.Action == codersdk.AuditActionCreate && a.ResourceType == "user" && a.ResourceID == u.ID
	})
	require.Equal(t, first.UserID, created.User.ID, "the owner acted")
	require.Equal(t, "carol", created.ResourceTarget)
	require.JSONEq(t, `{"username":"carol","email":"carol@example.com","login_type":"password"}`, string(created.Diff))

	failed := one("failed login of a known user", func(a codersdk.AuditLog) bool {
		return a.Action == codersdk.AuditActionLogin && a.StatusCode == 401 && byActor(a, u.ID)
	})
	require.Contains(t, string(failed.AdditionalFields), "bad credentials")
	ghost := one("failed login of an unknown user", func(a codersdk.AuditLog) bool {
		return a.Action == codersdk.AuditActionLogin && a.StatusCode == 401 && a.ResourceTarget == "ghost@example.com"
	})
	require.Nil(t, ghost.User)
	one("successful login", func(a codersdk.AuditLog) bool {
		return a.Action == codersdk.AuditActionLogin && a.StatusCode == 201 && byActor(a, u.ID)
	})
	one("token created", func(a codersdk.AuditLog) bool {
		return a.Action == codersdk.AuditActionCreate && a.ResourceType == "api_key" && a.ResourceTarget == k.ID && byActor(a, u.ID)
	})
	one("token deleted", func(a codersdk.AuditLog) bool {
		return a.Action == codersdk.AuditActionDelete && a.ResourceType == "api_key" && a.ResourceTarget == k.ID && a.StatusCode == 204
	})
	roles := one("role change", func(a codersdk.AuditLog) bool {
		return a.Action == codersdk.AuditActionWrite && a.ResourceID == u.ID && json.Valid(a.Diff) && containsKey(a.Diff, "roles")
	})
	require.JSONEq(t, `{"roles":{"old":[],"new":["auditor"]}}`, string(roles.Diff))
	status := one("suspension", func(a codersdk.AuditLog) bool {
		return a.Action == codersdk.AuditActionWrite && a.ResourceID == u.ID && containsKey(a.Diff, "status")
	})
	require.JSONEq(t, `{"status":{"old":"active","new":"suspended"}}`, string(status.Diff))

	// Filters and paging.
	ctx2 := testutil.Context(t, 30*time.Second)
	logins, err := auditor.AuditLogs(ctx2, codersdk.AuditLogsRequest{Action: codersdk.AuditActionLogin})
	require.NoError(t, err)
	for _, a := range logins.AuditLogs {
		require.Equal(t, codersdk.AuditActionLogin, a.Action)
	}
	pageOne, err := auditor.AuditLogs(ctx2, codersdk.AuditLogsRequest{Limit: 2})
	require.NoError(t, err)
	require.Len(t, pageOne.AuditLogs, 2)
	require.Greater(t, pageOne.Count, int64(2))
	require.False(t, pageOne.AuditLogs[0].Time.Before(pageOne.AuditLogs[1].Time), "newest first")
}
