package terraform

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

func TestResourceConfigAddr(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"coder_agent.dev":                       "coder_agent.dev",
		"coder_agent.dev[0]":                    "coder_agent.dev",
		`docker_container.c["a.b"]`:             "docker_container.c",
		"data.coder_parameter.p":                "data.coder_parameter.p",
		"module.ws[1].coder_agent.main[0]":      "module.ws.coder_agent.main",
		`module.a["x"].module.b.data.x.y`:       "module.a.module.b.data.x.y",
		"var.x":                                 "",
		"local.y":                               "",
		"module.ws":                             "",
		"module.ws.var.x":                       "",
		"output.o":                              "",
		`provider["registry.terraform.io/x/y"]`: "",
		`module.m.provider["registry.io/x/y"]`:  "",
		"coder_agent.dev.token":                 "",
		"meta.count-boundary":                   "",
		"root":                                  "",
		"terraform_data.x[\"k\\\"]\"]":          "terraform_data.x",
	}
	for in, want := range cases {
		if got := resourceConfigAddr(in); got != want {
			t.Errorf("resourceConfigAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDepsFromDOT(t *testing.T) {
	t.Parallel()
	// Terraform >= 1.7's summary graph.
	summary := `digraph G {
  "coder_agent.dev" -> "data.coder_workspace.me";
  "coder_app.code" -> "coder_agent.dev";
  "terraform_data.box" -> "coder_agent.dev";
  "terraform_data.outer" -> "terraform_data.box";
}`
	// The full operation graph of older Terraform and OpenTofu, with a
	// local in between.
	full := `digraph {
	subgraph "root" {
		"[root] coder_agent.dev (expand)" -> "[root] data.coder_workspace.me (expand)"
		"[root] coder_app.code (expand)" -> "[root] coder_agent.dev (expand)"
		"[root] local.token (expand)" -> "[root] coder_agent.dev (expand)"
		"[root] terraform_data.box (expand)" -> "[root] local.token (expand)"
		"[root] terraform_data.box (expand)" -> "[root] provider[\"terraform.io/builtin/terraform\"]"
		"[root] terraform_data.outer (expand)" -> "[root] terraform_data.box (expand)"
		"[root] provider[\"terraform.io/builtin/terraform\"] (close)" -> "[root] terraform_data.outer (expand)"
		"[root] root" -> "[root] provider[\"terraform.io/builtin/terraform\"] (close)"
	}
}`
	for name, dot := range map[string]string{"summary": summary, "full": full} {
		d := depsFromDOT(dot)
		agent := tfResource{Address: "coder_agent.dev[0]", ConfigAddr: "coder_agent.dev", Index: 0}
		hosts := []tfResource{
			{Address: "terraform_data.outer", ConfigAddr: "terraform_data.outer"},
			{Address: "terraform_data.box[0]", ConfigAddr: "terraform_data.box", Index: 0},
		}
		if i := d.closestDependent(agent, hosts); i != 1 {
			t.Errorf("%s: closest dependent = %d, want 1 (box); deps %v", name, i, d)
		}
		app := tfResource{Address: "coder_app.code[0]", ConfigAddr: "coder_app.code"}
		if i := d.closestDependency(app, []tfResource{agent}); i != 0 {
			t.Errorf("%s: app's agent = %d", name, i)
		}
		if !d["terraform_data.outer"]["data.coder_workspace.me"] {
			t.Errorf("%s: dependencies are not transitive: %v", name, d["terraform_data.outer"])
		}
	}
}

func TestConvertResourcesFallbacks(t *testing.T) {
	t.Parallel()
	agent := func(name string) tfResource {
		return tfResource{Address: "coder_agent." + name, ConfigAddr: "coder_agent." + name, Mode: tfjson.ManagedResourceMode,
			Type: "coder_agent", Name: name, Attrs: map[string]any{"id": "id-" + name, "token": "tok-" + name, "auth": "token"}}
	}
	ext := tfResource{Address: "coder_external_agent.x", ConfigAddr: "coder_external_agent.x", Mode: tfjson.ManagedResourceMode,
		Type: "coder_external_agent", Name: "x", Attrs: map[string]any{"agent_id": "id-a"}, DependsOn: []string{"coder_agent.a"}}
	all := []tfResource{agent("a"), agent("lonely"), ext}
	got, err := convertResources(all, depsFromState(all))
	if err != nil {
		t.Fatal(err)
	}
	want := []codersdk.ProvisionerResource{
		{Name: "x", Type: "coder_external_agent", Agents: []codersdk.ProvisionerAgent{{Name: "a", Token: "tok-a", Auth: "token"}}},
		{Name: "lonely", Type: "coder_agent", Agents: []codersdk.ProvisionerAgent{{Name: "lonely", Token: "tok-lonely", Auth: "token"}}},
	}
	assertJSONEqual(t, "resources", want, got)

	bad := []tfResource{agent("my_agent")}
	if _, err := convertResources(bad, deps{}); err == nil || !strings.Contains(err.Error(), "underscores") {
		t.Errorf("agent name with underscore: %v", err)
	}
	dup := []tfResource{agent("dev"), agent("Dev")}
	if _, err := convertResources(dup, deps{}); err == nil || !strings.Contains(err.Error(), "duplicate agent name") {
		t.Errorf("duplicate agents: %v", err)
	}
}

func TestHostEnv(t *testing.T) {
	t.Parallel()
	environ := []string{
		"PATH=/usr/bin", "HOME=/root", "LC_ALL=C", "AWS_ACCESS_KEY_ID=AKIA", "GOOGLE_CREDENTIALS={}",
		"DOCKER_HOST=unix:///x.sock", "KUBECONFIG=/k", "HTTPS_PROXY=http://p", "TF_TOKEN_app_terraform_io=t",
		"CODER_SESSION_TOKEN=secret", "CODER_PROVISIONER_DAEMON_PSK=psk", "CODER_AGENT_URL=http://daemon",
		"TF_LOG=TRACE", "TF_VAR_x=1", "TF_CLI_CONFIG_FILE=/op.rc", "DATABASE_URL=postgres://", "MY_TOOL_HOME=/t",
		"EXTRA_ONE=1", "CUSTOM_A=a", "CODER_EXTRA=no",
		"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_PORT=tcp://10.96.0.1:443",
	}
	got := hostEnv(environ, []string{"EXTRA_ONE", "CUSTOM_*", "CODER_EXTRA"})
	want := map[string]string{
		"PATH": "/usr/bin", "HOME": "/root", "LC_ALL": "C", "AWS_ACCESS_KEY_ID": "AKIA", "GOOGLE_CREDENTIALS": "{}",
		"DOCKER_HOST": "unix:///x.sock", "KUBECONFIG": "/k", "HTTPS_PROXY": "http://p", "TF_TOKEN_app_terraform_io": "t",
		"EXTRA_ONE": "1", "CUSTOM_A": "a",
		"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
	}
	assertJSONEqual(t, "host env", want, got)
}

func TestJobEnv(t *testing.T) {
	t.Parallel()
	r := &Runner{
		baseEnv:       map[string]string{"PATH": "/bin"},
		pluginDir:     "/cache/plugins",
		cliConfigFile: "/etc/tf.rc",
	}
	m := testMetadata(TransitionStop)
	env, err := r.jobEnv(m, TransitionStop,
		[]codersdk.WorkspaceBuildParameter{{Name: "region", Value: "eu"}, {Name: "empty", Value: ""}},
		[]codersdk.WorkspaceBuildParameter{{Name: "region", Value: "us"}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"PATH":                             "/bin",
		"TF_PLUGIN_CACHE_DIR":              "/cache/plugins",
		"TF_CLI_CONFIG_FILE":               "/etc/tf.rc",
		"CHECKPOINT_DISABLE":               "1",
		"CODER_AGENT_URL":                  m.AccessURL,
		"CODER_WORKSPACE_TRANSITION":       "stop",
		"CODER_WORKSPACE_OWNER":            "alice",
		"CODER_WORKSPACE_OWNER_GROUPS":     `["Everyone","devs"]`,
		"CODER_WORKSPACE_OWNER_RBAC_ROLES": `[{"name":"member","org_id":"9a9a9a9a-0000-4000-8000-000000000001"}]`,
		"CODER_AGENT_SCRIPT_linux_amd64":   m.AgentScripts["linux_amd64"],
		// hex(sha256("region")), as the provider computes it.
		"CODER_PARAMETER_c697d2981bf416569a16cfbcdec1542b5398f3cc77d2b905819aa99c46ecf6f6":          "eu",
		"CODER_PARAMETER_PREVIOUS_c697d2981bf416569a16cfbcdec1542b5398f3cc77d2b905819aa99c46ecf6f6": "us",
	} {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if v, ok := env[ParameterEnv("empty")]; !ok || v != "" {
		t.Errorf("an empty parameter value must still be set")
	}
	for k := range env {
		if strings.HasPrefix(k, "CODER_") && !strings.HasPrefix(k, "CODER_WORKSPACE_") && !strings.HasPrefix(k, "CODER_PARAMETER_") &&
			!strings.HasPrefix(k, "CODER_AGENT_") {
			t.Errorf("unexpected variable %s", k)
		}
	}
	if _, err := r.jobEnv(Metadata{AgentScripts: map[string]string{"Linux-AMD64": "x"}}, TransitionStart, nil, nil); err == nil {
		t.Error("bad agent script key accepted")
	}

	// An owner without a full name: the provider would fill in "default".
	for full, want := range map[string]string{"Alice Liddell": "Alice Liddell", "": "alice"} {
		m := testMetadata(TransitionStart)
		m.OwnerName = full
		env, err := r.jobEnv(m, TransitionStart, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := env["CODER_WORKSPACE_OWNER_NAME"]; got != want {
			t.Errorf("full name %q: CODER_WORKSPACE_OWNER_NAME = %q, want %q", full, got, want)
		}
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	red := newRedactor([]string{"tok-123456", "", "abc", testPrivateKey})
	in := "token=tok-123456 short=abc key-line=b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
	want := "token=[REDACTED] short=abc key-line=[REDACTED]"
	if got := red.redact(in); got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
	var nilRed *redactor
	if nilRed.redact("x") != "x" {
		t.Error("nil redactor changed text")
	}
}

func TestPlaintext(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"# Title\nSome **bold** and *em* text.":     "Title\nSome bold and em text.",
		"See [docs](https://x.y) and ![img](a.png)": "See docs and img",
		"Use `snake_case_names` ~~never~~":          "Use snake_case_names never",
		"> quoted _word_ here":                      "quoted word here",
		"plain snake_case_value stays":              "plain snake_case_value stays",
	}
	for in, want := range cases {
		if got := plaintext(in); got != want {
			t.Errorf("plaintext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewFindsTerraform(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	cfg := testutil.ToolchainConfig(t)

	// An old binary on PATH is skipped; with nothing else and no download
	// allowed, the error says what to do.
	bin := t.TempDir()
	old := filepath.Join(bin, "terraform")
	script := "#!/bin/sh\necho '{\"terraform_version\":\"1.0.11\",\"platform\":\"linux_amd64\",\"provider_selections\":{},\"terraform_outdated\":false}'\n"
	if err := os.WriteFile(old, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := New(ctx, Options{CacheDir: t.TempDir(), CLIConfigFile: cfg, Environ: []string{"PATH=" + bin}})
	if !errors.Is(err, ErrTerraformNotFound) {
		t.Fatalf("err = %v, want ErrTerraformNotFound", err)
	}
	for _, w := range []string{"--terraform-path", "make toolchain", "PATH"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}

	// An explicit path must work and be new enough.
	_, err = New(ctx, Options{CacheDir: t.TempDir(), TerraformPath: old})
	if err == nil || !strings.Contains(err.Error(), "older than the minimum") {
		t.Errorf("old --terraform-path: %v", err)
	}
	_, err = New(ctx, Options{CacheDir: t.TempDir(), TerraformPath: filepath.Join(bin, "missing")})
	if !errors.Is(err, ErrTerraformNotFound) {
		t.Errorf("missing --terraform-path: %v", err)
	}

	// The real one is found (on PATH, or given when only .toolchain has
	// one), and a provider mirror becomes a CLI config in the cache.
	cache := t.TempDir()
	mirror := t.TempDir()
	r, err := New(ctx, Options{CacheDir: cache, TerraformPath: testTerraformPath(t), ProviderMirror: mirror, Environ: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	if r.TerraformPath() == "" || r.TerraformVersion() == "" {
		t.Errorf("path %q version %q", r.TerraformPath(), r.TerraformVersion())
	}
	rc, err := os.ReadFile(filepath.Join(cache, "terraformrc"))
	if err != nil || !strings.Contains(string(rc), "filesystem_mirror") || !strings.Contains(string(rc), mirror) {
		t.Errorf("mirror config = %q, %v", rc, err)
	}
	if r.cliConfigFile != filepath.Join(cache, "terraformrc") {
		t.Errorf("cli config = %q", r.cliConfigFile)
	}
	if st, err := os.Stat(filepath.Join(cache, "plugins")); err != nil || !st.IsDir() {
		t.Errorf("plugin cache dir not created: %v", err)
	}
}

func TestLockFileHonoursContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := lockFile(testutil.Context(t, testutil.WaitLong), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testutil.Context(t, testutil.WaitLong))
	cancel()
	if _, err := lockFile(ctx, path); !errors.Is(err, context.Canceled) {
		t.Errorf("second lock while held: %v", err)
	}
	unlock()
	unlock2, err := lockFile(testutil.Context(t, testutil.WaitLong), path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}
