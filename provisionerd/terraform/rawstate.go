package terraform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// stateResources reads the resource instances of a state file as flatten
// reads `terraform show -json`: the same addresses, attribute values,
// dependencies and order. A build reads its new state this way instead of
// running `terraform show -json`, which starts Terraform and every
// provider once more (0.8 s of a 4 s docker build). It understands format
// version 4, what Terraform >= 0.12 and OpenTofu write; for anything else
// it returns an error and the caller asks Terraform.
//
// Attribute values are as stored: an attribute of dynamic type (such as
// terraform_data's input) keeps the {"type","value"} wrapper that show
// renders away. The conversion reads only coder_* resources' attributes
// (statically typed, SDKv2) and other resources' ids, which agree.
//
// Deposed objects (left by a failed create_before_destroy replacement) are
// not listed: they are on their way out and would show as a second copy of
// their resource.
func stateResources(raw []byte) ([]tfResource, error) {
	var st struct {
		Version   int `json:"version"`
		Resources []struct {
			Module    string          `json:"module"`
			Mode      string          `json:"mode"`
			Type      string          `json:"type"`
			Name      string          `json:"name"`
			Instances []stateInstance `json:"instances"`
		} `json:"resources"`
	}
	// Numbers stay json.Number, as terraform-json leaves them.
	if err := decodeNumbers(raw, &st); err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if st.Version != 4 {
		return nil, fmt.Errorf("read state: format version %d, not 4", st.Version)
	}
	byModule := map[string][]tfResource{}
	for _, r := range st.Resources {
		var mode tfjson.ResourceMode
		prefix := ""
		switch r.Mode {
		case "managed":
			mode = tfjson.ManagedResourceMode
		case "data":
			mode = tfjson.DataResourceMode
			prefix = "data."
		default:
			return nil, fmt.Errorf("read state: resource %s.%s has mode %q", r.Type, r.Name, r.Mode)
		}
		if r.Type == "" || r.Name == "" {
			return nil, errors.New("read state: a resource without a type or name")
		}
		base := prefix + r.Type + "." + r.Name
		if r.Module != "" {
			base = r.Module + "." + base
		}
		for _, in := range r.Instances {
			if in.Deposed != "" {
				continue
			}
			key, err := instanceKey(in.IndexKey)
			if err != nil {
				return nil, fmt.Errorf("read state: %s: %w", base, err)
			}
			var attrs map[string]any
			if len(in.Attributes) > 0 {
				if err := decodeNumbers(in.Attributes, &attrs); err != nil {
					return nil, fmt.Errorf("read state: %s attributes: %w", base, err)
				}
			}
			addr := base + key
			byModule[r.Module] = append(byModule[r.Module], tfResource{
				Address: addr, ConfigAddr: resourceConfigAddr(addr), Mode: mode,
				Type: r.Type, Name: r.Name, Index: in.IndexKey, Attrs: attrs, DependsOn: in.Dependencies,
			})
		}
	}
	// show -json lists a module's resources (data sources first, then by
	// type, name and key), then its child modules by address, depth first.
	children := map[string][]string{}
	for m := range byModule {
		for m != "" {
			parent := parentModule(m)
			if !slices.Contains(children[parent], m) {
				children[parent] = append(children[parent], m)
			}
			m = parent
		}
	}
	var out []tfResource
	var walk func(m string)
	walk = func(m string) {
		rs := byModule[m]
		sort.SliceStable(rs, func(i, j int) bool { return showOrder(rs[i], rs[j]) })
		out = append(out, rs...)
		kids := children[m]
		sort.Strings(kids)
		for _, k := range kids {
			walk(k)
		}
	}
	walk("")
	return out, nil
}

func decodeNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// showOrder is the order of Terraform's resource addresses within a
// module: data sources before managed resources, then type, name and
// instance key (numbers by value, strings by text).
func showOrder(a, b tfResource) bool {
	if a.Mode != b.Mode {
		return a.Mode == tfjson.DataResourceMode
	}
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	switch ka := a.Index.(type) {
	case json.Number:
		if kb, ok := b.Index.(json.Number); ok {
			x, _ := ka.Int64() // instanceKey checked both
			y, _ := kb.Int64()
			return x < y
		}
		return b.Index != nil // numbers before strings, none first
	case string:
		if kb, ok := b.Index.(string); ok {
			return ka < kb
		}
		return false
	}
	return b.Index != nil
}

type stateInstance struct {
	IndexKey     any             `json:"index_key"`
	Deposed      string          `json:"deposed"`
	Attributes   json.RawMessage `json:"attributes"`
	Dependencies []string        `json:"dependencies"`
}

// instanceKey is the address suffix of a count ([0]) or for_each (["a"])
// key; "" for none.
func instanceKey(k any) (string, error) {
	switch v := k.(type) {
	case nil:
		return "", nil
	case json.Number:
		if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
			return "", fmt.Errorf("index key %s is not an integer", v)
		}
		return "[" + string(v) + "]", nil
	case string:
		b, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		return "[" + string(b) + "]", nil
	}
	return "", fmt.Errorf("index key %v of type %T", k, k)
}

// parentModule is the module address one level up: "module.a[0].module.b"
// -> "module.a[0]"; "module.a" -> "".
func parentModule(m string) string {
	i := strings.LastIndex(m, ".module.")
	if i < 0 {
		return ""
	}
	return m[:i]
}
