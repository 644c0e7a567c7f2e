// Package workspaceapps addresses, authorizes and proxies workspace apps:
// the coder_app web servers (and any listening port) inside a workspace,
// reached by a browser through coderd.
//
// Two ways to address an app:
//   - path: /@{user}/{workspace}[.{agent}]/apps/{slug}/... on the
//     dashboard's own origin (convenient, but the app shares that origin:
//     --disable-path-apps switches these off);
//   - subdomain: {slug}--{agent}--{workspace}--{user}.{wildcard} (or
//     {port}--... for a listening port), one origin per app, the
//     recommended mode because apps such as Jupyter or Vite need to own the
//     root path and must not be able to read the dashboard's cookies.
//
// A request carries a short-lived app token: an HMAC-signed statement that
// this user may reach this app on this agent, set as a cookie scoped to the
// app, so repeated requests are checked without the database. Subdomain
// apps get it through a one-time, encrypted ticket minted by the dashboard
// origin (where the session cookie lives) and exchanged on the app's
// origin; the session token itself never appears in a URL.
//
// House rules: this package knows nothing of chi, the database or the
// tailnet. coderd supplies a Resolver (who may reach what) and a Dialer
// (how to reach an agent's port); the proxy never forwards the product's
// own cookies or auth headers to an app.
package workspaceapps
