// Package healthcheck probes what a deployment depends on, for coderd's
// health report (GET /api/v2/debug/health): the DERP relays and STUN
// servers its DERP map advertises, websockets through its access URL, and
// whether any provisioner daemon is online.
//
// Each probe dials what a workspace client would dial (the addresses in the
// DERP map, the access URL), not a shortcut inside the process, so a relay
// advertised at an address nobody can reach fails here as it would for
// users. Probes are bounded by their context, return a
// codersdk.HealthCheck and leave nothing running when they return.
package healthcheck
