// Package site is the dashboard: server-rendered HTML pages for logging in,
// workspaces, templates and accounts, plus the small hand-written scripts
// and the vendored xterm.js the web terminal needs. Everything is embedded
// in the binary; there is no build step for the pages and no CDN, so the
// dashboard works fully offline.
//
// House rules:
//   - The dashboard is a client of the API, in-process. Every page reads and
//     writes through codersdk with the caller's own session token, so each
//     page is authorized exactly like the API behind it (an object the API
//     answers 404 for is a 404 page here too) and codersdk stays the single
//     contract. site imports codersdk, never coderd.
//   - Everything user- or template-supplied goes through html/template's
//     contextual escaping; no template.HTML built from outside input.
//   - Cross-site state-changing requests are refused (net/http's
//     CrossOriginProtection, on top of SameSite=Lax session cookies); pages
//     are served with a strict Content-Security-Policy (no inline scripts).
//   - A redirect target is only ever a path on this origin.
package site
