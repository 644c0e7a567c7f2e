package terraform

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/opencoder/coder/codersdk"
)

// Transition is what a workspace build does to the workspace.
type Transition string

// The three transitions, as the coder provider reads them from
// CODER_WORKSPACE_TRANSITION.
const (
	TransitionStart   Transition = "start"
	TransitionStop    Transition = "stop"
	TransitionDestroy Transition = "destroy"
)

// RBACRole is one of the owner's roles, serialised into
// CODER_WORKSPACE_OWNER_RBAC_ROLES.
type RBACRole struct {
	Name  string `json:"name"`
	OrgID string `json:"org_id"`
}

// Metadata is what the template may know about the build: the inputs of the
// environment contract of the coder Terraform provider (see
// docs/ARCHITECTURE.md, "Terraform contract"). Empty fields are left unset,
// so the provider's own defaults apply.
type Metadata struct {
	AccessURL           string
	WorkspaceTransition Transition
	WorkspaceName       string
	WorkspaceID         string
	// WorkspaceBuildID, when set, makes the provider require TemplateID,
	// TemplateName and TemplateVersion too.
	WorkspaceBuildID string
	// Owner is the owner's username.
	Owner     string
	OwnerID   string
	OwnerName string
	// OwnerEmail is the owner's email address.
	OwnerEmail string
	// OwnerSessionToken is a short-lived token for the owner. Secret.
	OwnerSessionToken string
	OwnerSSHPublicKey string
	// OwnerSSHPrivateKey is the owner's git SSH key. Secret.
	OwnerSSHPrivateKey string
	// OwnerOIDCAccessToken is the owner's OIDC access token. Secret.
	OwnerOIDCAccessToken string
	OwnerGroups          []string
	OwnerLoginType       string
	OwnerRBACRoles       []RBACRole
	TemplateID           string
	TemplateName         string
	TemplateVersion      string
	// AgentScripts maps "<os>_<arch>" (lower case, e.g. "linux_amd64") to the
	// agent init script, given to the provider as
	// CODER_AGENT_SCRIPT_<os>_<arch>. The provider substitutes ${ACCESS_URL}
	// and ${AUTH_TYPE} in it.
	AgentScripts map[string]string
	// ExternalAuthAccessTokens maps an external-auth provider id to the
	// owner's access token (CODER_EXTERNAL_AUTH_ACCESS_TOKEN_<id>). Secret.
	ExternalAuthAccessTokens map[string]string
}

// secrets lists the values that must never appear in logs or errors.
func (m Metadata) secrets() []string {
	s := []string{m.OwnerSessionToken, m.OwnerSSHPrivateKey, m.OwnerOIDCAccessToken}
	for _, v := range m.ExternalAuthAccessTokens {
		s = append(s, v)
	}
	return s
}

var agentScriptKey = regexp.MustCompile(`^[a-z0-9]+_[a-z0-9]+$`)

// ParameterEnv is the variable the coder provider reads a parameter's value
// from: CODER_PARAMETER_ and the hex SHA-256 of the name.
func ParameterEnv(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "CODER_PARAMETER_" + hex.EncodeToString(sum[:])
}

// PreviousParameterEnv is the variable holding the previous build's value,
// which monotonic validation compares against.
func PreviousParameterEnv(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "CODER_PARAMETER_PREVIOUS_" + hex.EncodeToString(sum[:])
}

// Host variables given to Terraform. The rule: Terraform and its providers
// get what they need to reach the host's tools and clouds (PATH, HOME,
// locale, temp dirs, proxies and CA bundles, Docker and Kubernetes
// endpoints, cloud credential variables by their well-known prefixes,
// registry tokens), plus Options.PassEnv. Everything else of the daemon's
// environment, and CODER_* above all (the daemon's provisioner key, session
// tokens, database URL), is dropped. TF_* control variables other than
// registry settings are dropped too: the runner sets the ones it wants, and
// terraform-exec refuses TF_LOG, TF_VAR_* and friends.
var (
	hostEnvNames = []string{
		"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ",
		"TMPDIR", "TMP", "TEMP",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
		"http_proxy", "https_proxy", "no_proxy", "all_proxy",
		"SSL_CERT_FILE", "SSL_CERT_DIR",
		"SSH_AUTH_SOCK", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR",
		"KUBECONFIG", "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE",
		// In-cluster configuration: a provisioner in a pod reaches the API
		// server at the address Kubernetes injects (with the pod's service
		// account token, a file).
		"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
	}
	hostEnvPrefixes = []string{
		"LC_",
		"DOCKER_",
		"AWS_", "AZURE_", "ARM_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_",
		"DIGITALOCEAN_", "HCLOUD_", "LINODE_", "OS_", "VSPHERE_", "VAULT_",
		"KUBE_", "HELM_", "NOMAD_", "CONSUL_",
		"TF_TOKEN_", "TF_REGISTRY_",
	}
)

// hostEnv picks the allow-listed variables out of environ.
func hostEnv(environ []string, extra []string) map[string]string {
	names := map[string]bool{}
	for _, n := range hostEnvNames {
		names[n] = true
	}
	prefixes := append([]string(nil), hostEnvPrefixes...)
	for _, e := range extra {
		switch {
		case strings.HasSuffix(e, "*"):
			prefixes = append(prefixes, strings.TrimSuffix(e, "*"))
		case strings.HasSuffix(e, "_"):
			prefixes = append(prefixes, e)
		case e != "":
			names[e] = true
		}
	}
	out := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.HasPrefix(k, "CODER_") {
			continue
		}
		if names[k] || hasAnyPrefix(k, prefixes) {
			out[k] = v
		}
	}
	// Never hand Terraform a variable terraform-exec manages itself.
	for k := range out {
		if isManagedTFVar(k) {
			delete(out, k)
		}
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if p != "" && strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// isManagedTFVar reports the TF_ variables that terraform-exec or this
// runner sets; a user-supplied copy would be refused or overridden.
func isManagedTFVar(k string) bool {
	switch k {
	case "TF_CLI_ARGS", "TF_INPUT", "TF_IN_AUTOMATION", "TF_LOG", "TF_LOG_CORE",
		"TF_LOG_PATH", "TF_LOG_PROVIDER", "TF_REATTACH_PROVIDERS",
		"TF_APPEND_USER_AGENT", "TF_WORKSPACE", "TF_DISABLE_PLUGIN_TLS",
		"TF_SKIP_PROVIDER_VERIFY", "TF_DATA_DIR", "TF_PLUGIN_CACHE_DIR",
		"TF_CLI_CONFIG_FILE":
		return true
	}
	return strings.HasPrefix(k, "TF_VAR_") || strings.HasPrefix(k, "TF_CLI_ARGS_")
}

// envValue returns the last value of key in environ.
func envValue(environ []string, key string) string {
	val := ""
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			val = v
		}
	}
	return val
}

// jobEnv is the complete environment of every Terraform command of a job.
func (r *Runner) jobEnv(m Metadata, transition Transition, params, previous []codersdk.WorkspaceBuildParameter) (map[string]string, error) {
	env := make(map[string]string, len(r.baseEnv)+32)
	for k, v := range r.baseEnv {
		env[k] = v
	}
	env["CHECKPOINT_DISABLE"] = "1" // no update checks: offline and quiet
	env["TF_PLUGIN_CACHE_DIR"] = r.pluginDir
	// Templates rarely ship a lock file; without this, Terraform >= 1.4
	// re-installs providers into the shared cache on every init, replacing
	// directories that concurrent jobs' plans and applies are reading.
	env["TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE"] = "true"
	if r.cliConfigFile != "" {
		env["TF_CLI_CONFIG_FILE"] = r.cliConfigFile
	}

	set := func(k, v string) {
		if v != "" {
			env[k] = v
		}
	}
	set("CODER_AGENT_URL", m.AccessURL)
	set("CODER_WORKSPACE_TRANSITION", string(transition))
	set("CODER_WORKSPACE_NAME", m.WorkspaceName)
	set("CODER_WORKSPACE_ID", m.WorkspaceID)
	set("CODER_WORKSPACE_BUILD_ID", m.WorkspaceBuildID)
	set("CODER_WORKSPACE_OWNER", m.Owner)
	set("CODER_WORKSPACE_OWNER_ID", m.OwnerID)
	// The owner's full name; for an owner without one, the username. The
	// coder provider fills a blank full_name with the word "default", so
	// the stock `coalesce(full_name, name)` git identity would commit as
	// "default" (it does on the incumbent).
	set("CODER_WORKSPACE_OWNER_NAME", cmp.Or(m.OwnerName, m.Owner))
	set("CODER_WORKSPACE_OWNER_EMAIL", m.OwnerEmail)
	set("CODER_WORKSPACE_OWNER_SESSION_TOKEN", m.OwnerSessionToken)
	set("CODER_WORKSPACE_OWNER_SSH_PUBLIC_KEY", m.OwnerSSHPublicKey)
	set("CODER_WORKSPACE_OWNER_SSH_PRIVATE_KEY", m.OwnerSSHPrivateKey)
	set("CODER_WORKSPACE_OWNER_OIDC_ACCESS_TOKEN", m.OwnerOIDCAccessToken)
	set("CODER_WORKSPACE_OWNER_LOGIN_TYPE", m.OwnerLoginType)
	set("CODER_WORKSPACE_TEMPLATE_ID", m.TemplateID)
	set("CODER_WORKSPACE_TEMPLATE_NAME", m.TemplateName)
	set("CODER_WORKSPACE_TEMPLATE_VERSION", m.TemplateVersion)

	// The provider JSON-decodes these whenever they are set, so they are
	// always valid JSON lists.
	groups := m.OwnerGroups
	if groups == nil {
		groups = []string{}
	}
	roles := m.OwnerRBACRoles
	if roles == nil {
		roles = []RBACRole{}
	}
	gj, err := json.Marshal(groups)
	if err != nil {
		return nil, fmt.Errorf("encode owner groups: %w", err)
	}
	rj, err := json.Marshal(roles)
	if err != nil {
		return nil, fmt.Errorf("encode owner roles: %w", err)
	}
	env["CODER_WORKSPACE_OWNER_GROUPS"] = string(gj)
	env["CODER_WORKSPACE_OWNER_RBAC_ROLES"] = string(rj)

	for key, script := range m.AgentScripts {
		if !agentScriptKey.MatchString(key) {
			return nil, fmt.Errorf("agent script key %q: want <os>_<arch> in lower case", key)
		}
		env["CODER_AGENT_SCRIPT_"+key] = script
	}
	for id, token := range m.ExternalAuthAccessTokens {
		set("CODER_EXTERNAL_AUTH_ACCESS_TOKEN_"+id, token)
	}
	// Parameter values are set even when empty: an empty string is a value.
	for _, p := range params {
		env[ParameterEnv(p.Name)] = p.Value
	}
	for _, p := range previous {
		env[PreviousParameterEnv(p.Name)] = p.Value
	}
	return env, nil
}

// redactor replaces known secret values in text.
type redactor struct {
	secrets  []string
	replacer *strings.Replacer
}

// redactMinLen keeps very short values (which would match everywhere) out
// of the redaction list.
const redactMinLen = 6

func newRedactor(secrets []string) *redactor {
	var pairs []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if len(s) >= redactMinLen {
			pairs = append(pairs, s, "[REDACTED]")
		}
	}
	for _, s := range secrets {
		add(s)
		// Multi-line secrets (keys) can surface one line at a time.
		if strings.Contains(s, "\n") {
			for _, line := range strings.Split(s, "\n") {
				if len(strings.TrimSpace(line)) >= 16 {
					add(line)
				}
			}
		}
	}
	if len(pairs) == 0 {
		return &redactor{secrets: secrets}
	}
	return &redactor{secrets: secrets, replacer: strings.NewReplacer(pairs...)}
}

// with is a redactor for r's secrets and more.
func (r *redactor) with(more []string) *redactor {
	var have []string
	if r != nil {
		have = r.secrets
	}
	return newRedactor(append(append([]string(nil), have...), more...))
}

func (r *redactor) redact(s string) string {
	if r == nil || r.replacer == nil {
		return s
	}
	return r.replacer.Replace(s)
}
