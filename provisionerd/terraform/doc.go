// Package terraform runs template Terraform for a provisioner daemon: it
// imports template versions (init + a plan for each of the start and stop
// transitions) and runs workspace builds (init, then one apply that plans too; the new state is read from its file), turning
// plans and states into the codersdk wire types coderd stores.
//
// It drives the Terraform CLI through hashicorp/terraform-exec, finds or
// installs the binary with hashicorp/hc-install and decodes plans and states
// with hashicorp/terraform-json. It never imports coderd: everything it needs
// arrives in the request structs and everything it learns leaves in the
// result structs or through the Logf callback.
//
// House rules:
//
//   - Every job runs in its own directory under Options.WorkDir, made from the
//     uploaded tar (see extract.go for the safety rules) and removed when the
//     job ends, after any process still running in it has been killed: no
//     process outlives its job.
//   - Terraform gets an explicit environment (see env.go), never the daemon's
//     whole one: a small allow-list of host settings, the template contract
//     variables (CODER_AGENT_URL, CODER_WORKSPACE_*, CODER_PARAMETER_*, ...),
//     TF_PLUGIN_CACHE_DIR and TF_CLI_CONFIG_FILE. The daemon's own CODER_*
//     variables never reach a template.
//   - Secrets given in Metadata (session token, SSH private key, OIDC and
//     external-auth tokens) are replaced by "[REDACTED]" in every log line
//     and error message this package produces.
//   - Cancellation: when the job's context ends, Terraform receives SIGINT
//     and Options.InterruptGrace (default 3 minutes) to stop cleanly and
//     write its state; only then is it killed. The returned error wraps the
//     context's error, so errors.Is(err, context.Canceled) tells the caller
//     to report the job as canceled.
//   - A Terraform failure is returned as *Error, whose message carries
//     Terraform's own diagnostics (summary, detail, file:line).
//
// The plans, states and graphs it decodes come from user templates; their
// conversion (convert.go, graph.go, parameters.go) has fuzz targets.
//
// A Runner is safe for concurrent use: jobs share only the read-only
// configuration and the provider plugin cache, whose writers (terraform init)
// are serialised with a file lock so several daemons, in one process or many,
// can share one cache directory.
package terraform
