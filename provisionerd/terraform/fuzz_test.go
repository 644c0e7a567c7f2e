package terraform

import (
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// The conversions below read what `terraform show -json` and `terraform
// graph` print for a template the user wrote: outside input. Whatever the
// bytes, they must return an error or resources, never panic; and what they
// return must survive the JSON trip to coderd unchanged.

// fuzzState is a state as Terraform 1.x writes it for a docker-like
// template: an agent, its host depending on it, an app, a script, an env,
// and metadata on the host.
const fuzzState = `{"format_version":"1.0","terraform_version":"1.5.7","values":{"root_module":{"resources":[
{"address":"coder_agent.main","mode":"managed","type":"coder_agent","name":"main","provider_name":"registry.terraform.io/coder/coder","schema_version":1,
 "values":{"id":"a1","token":"t1","auth":"token","os":"linux","arch":"amd64","dir":"/home/coder","env":{"A":"1"},"startup_script":"echo hi","connection_timeout":120,"order":1,
  "metadata":[{"key":"cpu","display_name":"CPU","script":"top","interval":10,"timeout":1,"order":0}],
  "display_apps":[{"vscode":true,"vscode_insiders":false,"web_terminal":true,"ssh_helper":true,"port_forwarding_helper":true}]}},
{"address":"coder_app.code","mode":"managed","type":"coder_app","name":"code","provider_name":"registry.terraform.io/coder/coder",
 "values":{"agent_id":"a1","slug":"code","display_name":"Code","url":"http://localhost:8080","share":"owner","subdomain":false,
  "healthcheck":[{"url":"http://localhost:8080/healthz","interval":5,"threshold":6}]},"depends_on":["coder_agent.main"]},
{"address":"coder_script.hello","mode":"managed","type":"coder_script","name":"hello","provider_name":"registry.terraform.io/coder/coder",
 "values":{"agent_id":"a1","display_name":"Hello","script":"echo hello","run_on_start":true,"timeout":30},"depends_on":["coder_agent.main"]},
{"address":"coder_env.e","mode":"managed","type":"coder_env","name":"e","provider_name":"registry.terraform.io/coder/coder",
 "values":{"agent_id":"a1","name":"B","value":"2"},"depends_on":["coder_agent.main"]},
{"address":"terraform_data.box[0]","mode":"managed","type":"terraform_data","name":"box","index":0,"provider_name":"terraform.io/builtin/terraform",
 "values":{"id":"box0","input":"x"},"depends_on":["coder_agent.main","data.coder_workspace.me"]},
{"address":"coder_metadata.box","mode":"managed","type":"coder_metadata","name":"box","provider_name":"registry.terraform.io/coder/coder",
 "values":{"resource_id":"box0","icon":"/icon/box.svg","daily_cost":3,"item":[{"key":"size","value":"1","sensitive":false}]},"depends_on":["terraform_data.box"]},
{"address":"data.coder_workspace.me","mode":"data","type":"coder_workspace","name":"me","provider_name":"registry.terraform.io/coder/coder","values":{"name":"ws","start_count":1}}
],"child_modules":[{"address":"module.m","resources":[
{"address":"module.m.terraform_data.inner[\"k\"]","mode":"managed","type":"terraform_data","name":"inner","index":"k","provider_name":"terraform.io/builtin/terraform","values":{"id":"in"}}
]}]}}}`

// fuzzPlan is an import's plan: planned values, whose ids are unknown, and
// the data sources (a parameter) in the prior state.
const fuzzPlan = `{"format_version":"1.2","terraform_version":"1.5.7",
"planned_values":{"root_module":{"resources":[
{"address":"coder_agent.dev","mode":"managed","type":"coder_agent","name":"dev","provider_name":"registry.terraform.io/coder/coder","values":{"arch":"amd64","os":"linux","auth":"token"}},
{"address":"coder_app.code","mode":"managed","type":"coder_app","name":"code","provider_name":"registry.terraform.io/coder/coder","values":{"slug":"code"}},
{"address":"terraform_data.box","mode":"managed","type":"terraform_data","name":"box","provider_name":"terraform.io/builtin/terraform","values":{}}
]}},
"prior_state":{"format_version":"1.0","terraform_version":"1.5.7","values":{"root_module":{"resources":[
{"address":"data.coder_parameter.size","mode":"data","type":"coder_parameter","name":"size","provider_name":"registry.terraform.io/coder/coder",
 "values":{"name":"size","display_name":"Size","description":"**How** big","type":"number","default":"1","mutable":true,"icon":"","order":1,
  "option":null,"validation":[{"min":1,"max":8,"monotonic":"","regex":"","error":""}],"ephemeral":false,"form_type":"input","styling":"{}"}}
]}}}}`

const fuzzDOT = `digraph G {
  "coder_agent.dev" -> "data.coder_workspace.me";
  "coder_app.code" -> "coder_agent.dev";
  "terraform_data.box" -> "coder_agent.dev";
}`

func FuzzConvertState(f *testing.F) {
	f.Add([]byte(fuzzState))
	f.Add([]byte(`{"format_version":"1.0"}`))
	f.Add([]byte(`{"format_version":"1.0","values":{"root_module":{"resources":[null,{"mode":"managed","type":"coder_agent","name":"my_agent","values":{"id":3}}]}}}`))
	f.Add([]byte(`{"format_version":"1.0","values":{"root_module":{"resources":[{"address":"coder_agent.a","mode":"managed","type":"coder_agent","name":"a"},{"address":"coder_agent.A","mode":"managed","type":"coder_agent","name":"A"}]}}}`))
	f.Add([]byte(`{"format_version":"1.0","values":{"root_module":{"resources":[{"address":"x[","mode":"managed","type":"coder_app","name":"x","depends_on":["]]","..",""]}]}}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st tfjson.State
		if err := st.UnmarshalJSON(data); err != nil {
			return
		}
		resources, err := convertState(&st)
		if err != nil {
			return
		}
		checkConverted(t, resources)
	})
}

func FuzzConvertPlan(f *testing.F) {
	f.Add([]byte(fuzzPlan), fuzzDOT)
	f.Add([]byte(fuzzPlan), "")
	f.Add([]byte(`{"format_version":"1.2"}`), `digraph {`)
	f.Add([]byte(`{"format_version":"1.2","prior_state":{"format_version":"1.0","values":{"root_module":{"resources":[{"mode":"data","type":"coder_parameter","name":"p","values":{"name":"p","type":"list(string)","default":"[1,","option":[{"name":"a","value":"a"},{"name":"a","value":"a"}]}}]}}}}`), `"a" -> "b" -> "c"`)
	f.Add([]byte(`{"format_version":"1.2","planned_values":{"root_module":{"child_modules":[{"resources":[{"mode":"managed","type":"coder_agent","name":"x"}]}]}}}`), `"[root] module.m.coder_agent.x (expand)" -> "[root] coder_agent.x (expand)"`)
	f.Fuzz(func(t *testing.T, data []byte, dot string) {
		var plan tfjson.Plan
		if err := plan.UnmarshalJSON(data); err != nil {
			return
		}
		managed, dataSources := planResources(&plan)
		resources, err := convertResources(managed, depsFromDOT(dot))
		if err == nil {
			checkConverted(t, resources)
		}
		params, err := convertParameters(dataSources)
		if err == nil {
			testutil.StableJSON(t, params)
		}
	})
}

// checkConverted holds for every successful conversion: agent names are
// valid and unique, and the result survives the trip to coderd.
func checkConverted(t *testing.T, resources []codersdk.ProvisionerResource) {
	t.Helper()
	names := map[string]bool{}
	for _, r := range resources {
		for _, a := range r.Agents {
			if !agentNameRe.MatchString(a.Name) {
				t.Fatalf("converted an invalid agent name %q", a.Name)
			}
			if names[a.Name] {
				t.Fatalf("converted a duplicate agent name %q", a.Name)
			}
			names[a.Name] = true
		}
	}
	testutil.StableJSON(t, resources)
}

// TestFuzzSeedsConvert keeps the fuzz seeds meaningful: the realistic ones
// must convert, so the fuzzer starts from inputs that reach every join.
func TestFuzzSeedsConvert(t *testing.T) {
	t.Parallel()
	var st tfjson.State
	if err := st.UnmarshalJSON([]byte(fuzzState)); err != nil {
		t.Fatal(err)
	}
	resources, err := convertState(&st)
	if err != nil {
		t.Fatal(err)
	}
	if len(resources) != 2 || len(resources[0].Agents) != 1 || len(resources[0].Agents[0].Apps) != 1 {
		t.Fatalf("state seed converted to %+v", resources)
	}
	var plan tfjson.Plan
	if err := plan.UnmarshalJSON([]byte(fuzzPlan)); err != nil {
		t.Fatal(err)
	}
	managed, data := planResources(&plan)
	if resources, err = convertResources(managed, depsFromDOT(fuzzDOT)); err != nil || len(resources) != 1 || len(resources[0].Agents) != 1 {
		t.Fatalf("plan seed converted to %+v, %v", resources, err)
	}
	if params, err := convertParameters(data); err != nil || len(params) != 1 {
		t.Fatalf("plan seed parameters: %+v, %v", params, err)
	}
}
