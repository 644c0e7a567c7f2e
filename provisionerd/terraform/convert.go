package terraform

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/opencoder/coder/codersdk"
)

// Attribute shapes of the coder provider's resources (provider/*.go of
// terraform-provider-coder). Values are decoded through JSON, so unknown
// (plan-time) attributes simply stay zero.
type (
	agentAttrs struct {
		ID                    string            `json:"id"`
		Auth                  string            `json:"auth"`
		OS                    string            `json:"os"`
		Arch                  string            `json:"arch"`
		Dir                   string            `json:"dir"`
		Env                   map[string]string `json:"env"`
		StartupScript         string            `json:"startup_script"`
		StartupScriptBehavior string            `json:"startup_script_behavior"`
		ShutdownScript        string            `json:"shutdown_script"`
		Token                 string            `json:"token"`
		ConnectionTimeout     int32             `json:"connection_timeout"`
		TroubleshootingURL    string            `json:"troubleshooting_url"`
		MOTDFile              string            `json:"motd_file"`
		APIKeyScope           string            `json:"api_key_scope"`
		Order                 int64             `json:"order"`
		Metadata              []struct {
			Key         string `json:"key"`
			DisplayName string `json:"display_name"`
			Script      string `json:"script"`
			Interval    int64  `json:"interval"`
			Timeout     int64  `json:"timeout"`
			Order       int64  `json:"order"`
		} `json:"metadata"`
		DisplayApps []codersdk.ProvisionerDisplayApps `json:"display_apps"`
	}
	agentInstanceAttrs struct {
		AgentID    string `json:"agent_id"`
		InstanceID string `json:"instance_id"`
	}
	appAttrs struct {
		AgentID     string `json:"agent_id"`
		Slug        string `json:"slug"`
		DisplayName string `json:"display_name"`
		Command     string `json:"command"`
		URL         string `json:"url"`
		Icon        string `json:"icon"`
		Subdomain   bool   `json:"subdomain"`
		Share       string `json:"share"`
		External    bool   `json:"external"`
		Order       int64  `json:"order"`
		Hidden      bool   `json:"hidden"`
		OpenIn      string `json:"open_in"`
		Group       string `json:"group"`
		Tooltip     string `json:"tooltip"`
		Healthcheck []struct {
			URL       string `json:"url"`
			Interval  int32  `json:"interval"`
			Threshold int32  `json:"threshold"`
		} `json:"healthcheck"`
	}
	scriptAttrs struct {
		AgentID          string `json:"agent_id"`
		DisplayName      string `json:"display_name"`
		Icon             string `json:"icon"`
		Script           string `json:"script"`
		Cron             string `json:"cron"`
		LogPath          string `json:"log_path"`
		RunOnStart       bool   `json:"run_on_start"`
		RunOnStop        bool   `json:"run_on_stop"`
		StartBlocksLogin bool   `json:"start_blocks_login"`
		Timeout          int32  `json:"timeout"`
	}
	envAttrs struct {
		AgentID       string `json:"agent_id"`
		Name          string `json:"name"`
		Value         string `json:"value"`
		MergeStrategy string `json:"merge_strategy"`
	}
	metadataAttrs struct {
		ResourceID string `json:"resource_id"`
		Hide       bool   `json:"hide"`
		Icon       string `json:"icon"`
		DailyCost  int32  `json:"daily_cost"`
		Item       []struct {
			Key       string `json:"key"`
			Value     string `json:"value"`
			Sensitive bool   `json:"sensitive"`
		} `json:"item"`
	}
)

func decodeAttrs(r tfResource, v any) error {
	b, err := json.Marshal(r.Attrs)
	if err != nil {
		return fmt.Errorf("encode %s: %w", r.Address, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", r.Address, err)
	}
	return nil
}

// agentNameRe is Coder's rule for agent names: they appear in hostnames.
var agentNameRe = regexp.MustCompile(`^[a-zA-Z0-9](-?[a-zA-Z0-9])*$`)

// auxiliaryTypes are coder resources that decorate others and never host an
// agent.
var auxiliaryTypes = map[string]bool{
	"coder_agent": true, "coder_app": true, "coder_script": true, "coder_env": true,
	"coder_metadata": true, "coder_devcontainer": true, "coder_ai_task": true,
	"coder_agent_instance": true,
}

// convertState converts the resources of an applied state (`terraform show
// -json`), with dependencies from each instance's depends_on.
func convertState(st *tfjson.State) ([]codersdk.ProvisionerResource, error) {
	var all []tfResource
	if st != nil && st.Values != nil {
		all = flatten(st.Values.RootModule, "")
	}
	return convertResources(all, depsFromState(all))
}

// convertResources turns the managed resources of a plan or state into the
// wire form: one ProvisionerResource per non-coder instance, in Terraform's
// order, with agents attached (see graph.go for the rule) and coder_app,
// coder_script, coder_env, coder_agent_instance and coder_metadata joined
// to their targets by id, or by dependency when the id is not known yet.
func convertResources(all []tfResource, d deps) ([]codersdk.ProvisionerResource, error) {
	var agentRes, hosts, others []tfResource
	byType := map[string][]tfResource{}
	for _, r := range all {
		if r.Mode != tfjson.ManagedResourceMode {
			continue
		}
		switch {
		case r.Type == "coder_agent":
			agentRes = append(agentRes, r)
		case strings.HasPrefix(r.Type, "coder_"):
			byType[r.Type] = append(byType[r.Type], r)
			if !auxiliaryTypes[r.Type] {
				others = append(others, r)
			}
		default:
			hosts = append(hosts, r)
		}
	}

	agents := make([]*codersdk.ProvisionerAgent, len(agentRes))
	agentIDs := make([]string, len(agentRes))
	names := map[string]string{}
	for i, r := range agentRes {
		var a agentAttrs
		if err := decodeAttrs(r, &a); err != nil {
			return nil, err
		}
		if !agentNameRe.MatchString(r.Name) {
			return nil, fmt.Errorf("agent name %q: use letters, digits and single hyphens only (no underscores)", r.Name)
		}
		if prev, ok := names[strings.ToLower(r.Name)]; ok {
			return nil, fmt.Errorf("duplicate agent name %q (%s and %s): agent names must be unique", r.Name, prev, r.Address)
		}
		names[strings.ToLower(r.Name)] = r.Address
		agents[i] = newAgent(r.Name, a)
		agentIDs[i] = a.ID
		// Invalid metadata blocks fail the import or build with every
		// problem named (the job log shows it), never silently dropped.
		if errs := codersdk.ValidateAgentMetadata(agents[i].Metadata); len(errs) > 0 {
			return nil, fmt.Errorf("agent %q (%s) has invalid metadata: %w", r.Name, r.Address, errors.Join(errs...))
		}
	}

	// findAgent joins a decorating resource to its agent.
	findAgent := func(r tfResource, agentID string) *codersdk.ProvisionerAgent {
		if agentID != "" {
			for i, id := range agentIDs {
				if id == agentID {
					return agents[i]
				}
			}
		}
		if i := d.closestDependency(r, agentRes); i >= 0 {
			return agents[i]
		}
		return nil
	}

	for _, r := range byType["coder_agent_instance"] {
		var a agentInstanceAttrs
		if err := decodeAttrs(r, &a); err != nil {
			return nil, err
		}
		if agent := findAgent(r, a.AgentID); agent != nil {
			agent.InstanceID = a.InstanceID
		}
	}
	for _, r := range byType["coder_script"] {
		var s scriptAttrs
		if err := decodeAttrs(r, &s); err != nil {
			return nil, err
		}
		if agent := findAgent(r, s.AgentID); agent != nil {
			agent.Scripts = append(agent.Scripts, codersdk.ProvisionerScript{
				DisplayName: s.DisplayName, Icon: s.Icon, Script: s.Script, Cron: s.Cron,
				RunOnStart: s.RunOnStart, RunOnStop: s.RunOnStop, StartBlocksLogin: s.StartBlocksLogin,
				TimeoutSeconds: s.Timeout, LogPath: s.LogPath,
			})
		}
	}
	for _, r := range byType["coder_app"] {
		var a appAttrs
		if err := decodeAttrs(r, &a); err != nil {
			return nil, err
		}
		agent := findAgent(r, a.AgentID)
		if agent == nil {
			continue
		}
		app := codersdk.ProvisionerApp{
			Slug: a.Slug, DisplayName: a.DisplayName, Command: a.Command, URL: a.URL, Icon: a.Icon,
			Subdomain: a.Subdomain, Share: a.Share, External: a.External, Order: a.Order,
			Hidden: a.Hidden, OpenIn: a.OpenIn, Group: a.Group, Tooltip: a.Tooltip,
		}
		if app.Share == "" {
			app.Share = "owner"
		}
		if len(a.Healthcheck) > 0 {
			h := a.Healthcheck[0]
			app.Healthcheck = &codersdk.ProvisionerAppHealthcheck{URL: h.URL, Interval: h.Interval, Threshold: h.Threshold}
		}
		for _, other := range agent.Apps {
			if other.Slug == app.Slug {
				return nil, fmt.Errorf("duplicate app slug %q on agent %q", app.Slug, agent.Name)
			}
		}
		agent.Apps = append(agent.Apps, app)
	}
	if err := joinEnv(byType["coder_env"], findAgent); err != nil {
		return nil, err
	}

	// Resources, then agents into them.
	out := make([]codersdk.ProvisionerResource, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, codersdk.ProvisionerResource{Name: h.Name, Type: h.Type})
	}
	extra := map[int]int{} // index in others -> index in out
	for i, ar := range agentRes {
		if j := d.closestDependent(ar, hosts); j >= 0 {
			out[j].Agents = append(out[j].Agents, *agents[i])
			continue
		}
		// No machine depends on the agent (an external agent, a template
		// under construction): keep it visible on the coder resource that
		// uses it, or on a resource named after the agent itself.
		if j := d.closestDependent(ar, others); j >= 0 {
			k, ok := extra[j]
			if !ok {
				out = append(out, codersdk.ProvisionerResource{Name: others[j].Name, Type: others[j].Type})
				k = len(out) - 1
				extra[j] = k
			}
			out[k].Agents = append(out[k].Agents, *agents[i])
			continue
		}
		out = append(out, codersdk.ProvisionerResource{Name: ar.Name, Type: ar.Type, Agents: []codersdk.ProvisionerAgent{*agents[i]}})
	}

	for _, r := range byType["coder_metadata"] {
		var m metadataAttrs
		if err := decodeAttrs(r, &m); err != nil {
			return nil, err
		}
		j := -1
		if m.ResourceID != "" {
			var matches []tfResource
			var idx []int
			for k, h := range hosts {
				if id, _ := h.Attrs["id"].(string); id == m.ResourceID {
					matches = append(matches, h)
					idx = append(idx, k)
				}
			}
			switch len(matches) {
			case 0:
			case 1:
				j = idx[0]
			default:
				if k := d.closestDependency(r, matches); k >= 0 {
					j = idx[k]
				} else {
					j = idx[0]
				}
			}
		}
		if j < 0 {
			j = d.closestDependency(r, hosts)
		}
		if j < 0 {
			continue
		}
		res := &out[j]
		res.Hide = m.Hide
		res.Icon = m.Icon
		res.DailyCost = m.DailyCost
		for _, item := range m.Item {
			res.Metadata = append(res.Metadata, codersdk.ResourceMetadataItem{Key: item.Key, Value: item.Value, Sensitive: item.Sensitive})
		}
	}
	return out, nil
}

// Names and log files of the scripts made from coder_agent's legacy
// startup_script and shutdown_script attributes (as Coder names them, so
// the dashboard and the agent's log files look the same).
const (
	startupScriptName  = "Startup Script"
	shutdownScriptName = "Shutdown Script"
)

func newAgent(name string, a agentAttrs) *codersdk.ProvisionerAgent {
	agent := &codersdk.ProvisionerAgent{
		Name:                     name,
		Auth:                     a.Auth,
		OS:                       a.OS,
		Arch:                     a.Arch,
		Directory:                a.Dir,
		ConnectionTimeoutSeconds: a.ConnectionTimeout,
		TroubleshootingURL:       a.TroubleshootingURL,
		MOTDFile:                 a.MOTDFile,
		APIKeyScope:              a.APIKeyScope,
		Order:                    a.Order,
	}
	if agent.Auth == "" {
		agent.Auth = "token"
	}
	if agent.Auth == "token" {
		agent.Token = a.Token
	}
	if len(a.Env) > 0 {
		agent.Env = make(map[string]string, len(a.Env))
		for k, v := range a.Env {
			agent.Env[k] = v
		}
	}
	if a.StartupScript != "" {
		agent.Scripts = append(agent.Scripts, codersdk.ProvisionerScript{
			DisplayName:      startupScriptName,
			Icon:             "/emojis/25b6.png",
			Script:           a.StartupScript,
			RunOnStart:       true,
			StartBlocksLogin: a.StartupScriptBehavior == "blocking",
			LogPath:          "coder-startup-script.log",
		})
	}
	if a.ShutdownScript != "" {
		agent.Scripts = append(agent.Scripts, codersdk.ProvisionerScript{
			DisplayName: shutdownScriptName,
			Icon:        "/emojis/25c0.png",
			Script:      a.ShutdownScript,
			RunOnStop:   true,
			LogPath:     "coder-shutdown-script.log",
		})
	}
	for _, m := range a.Metadata {
		agent.Metadata = append(agent.Metadata, codersdk.ProvisionerAgentMetadata{
			Key: m.Key, DisplayName: m.DisplayName, Script: m.Script,
			Interval: m.Interval, Timeout: m.Timeout, Order: m.Order,
		})
	}
	if len(a.DisplayApps) > 0 {
		apps := a.DisplayApps[0]
		agent.DisplayApps = &apps
	}
	return agent
}

// joinEnv applies coder_env resources to their agents, in address order,
// with the provider's merge strategies: replace (default), append and
// prepend (":"-separated), or error on a second definition.
func joinEnv(envs []tfResource, findAgent func(tfResource, string) *codersdk.ProvisionerAgent) error {
	sorted := append([]tfResource(nil), envs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Address < sorted[j].Address })
	// defined records, per agent and name, the strategy of the coder_env
	// that set it.
	defined := map[*codersdk.ProvisionerAgent]map[string]string{}
	for _, r := range sorted {
		var e envAttrs
		if err := decodeAttrs(r, &e); err != nil {
			return err
		}
		agent := findAgent(r, e.AgentID)
		if agent == nil {
			continue
		}
		if agent.Env == nil {
			agent.Env = map[string]string{}
		}
		if defined[agent] == nil {
			defined[agent] = map[string]string{}
		}
		if prev, ok := defined[agent][e.Name]; ok && (prev == "error" || e.MergeStrategy == "error") {
			return fmt.Errorf("%s: environment variable %q of agent %q is defined by more than one coder_env", r.Address, e.Name, agent.Name)
		}
		old, exists := agent.Env[e.Name]
		switch e.MergeStrategy {
		case "append":
			if exists && old != "" {
				agent.Env[e.Name] = old + ":" + e.Value
			} else {
				agent.Env[e.Name] = e.Value
			}
		case "prepend":
			if exists && old != "" {
				agent.Env[e.Name] = e.Value + ":" + old
			} else {
				agent.Env[e.Name] = e.Value
			}
		default: // "replace", "error"
			agent.Env[e.Name] = e.Value
		}
		defined[agent][e.Name] = e.MergeStrategy
	}
	return nil
}
