package terraform

import (
	"fmt"
	"regexp"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// How agents find their machine, and metadata its resource.
//
// A coder_agent belongs to the closest non-coder resource that depends on it
// (the container or VM whose user data runs the agent's init script with its
// token). "Depends" is Terraform's own dependency relation, taken
//
//   - for a state, from each instance's depends_on, which Terraform records
//     with every dependency, direct or not (references through locals,
//     variables and module outputs included);
//   - for a plan (import), from `terraform graph`, whose edges are the direct
//     dependencies, closed transitively here. Plans carry no depends_on, and
//     the configuration's "references" stop at locals and module boundaries.
//
// Both give, per resource configuration address, the set of everything it
// depends on. "Closest" is then the dependent with the fewest other resources
// lying between it and the agent (a direct consumer has none); ties go to a
// candidate with the agent's own count/for_each key, then to the first
// address in Terraform's order. The same rule, reversed, joins coder_app,
// coder_script, coder_env and coder_metadata to their target when the id
// they were given is not known yet (in a plan).
//
// This avoids running `terraform graph` for builds, where it would add a
// whole Terraform start-up to every build for information the state has.
type deps map[string]map[string]bool

// closure makes every dependency set transitive.
func (d deps) closure() deps {
	out := deps{}
	var visit func(addr string, seen map[string]bool)
	visit = func(addr string, seen map[string]bool) {
		for dep := range d[addr] {
			if seen[dep] {
				continue
			}
			seen[dep] = true
			visit(dep, seen)
		}
	}
	for addr := range d {
		seen := map[string]bool{}
		visit(addr, seen)
		delete(seen, addr)
		out[addr] = seen
	}
	return out
}

// between counts the resources lying on dependency paths from -> ... -> to.
func (d deps) between(from, to string) int {
	n := 0
	for m := range d[from] {
		if m != to && d[m][to] {
			n++
		}
	}
	return n
}

// depsFromState reads the depends_on lists of a state's instances.
func depsFromState(res []tfResource) deps {
	d := deps{}
	for _, r := range res {
		set := d[r.ConfigAddr]
		if set == nil {
			set = map[string]bool{}
			d[r.ConfigAddr] = set
		}
		for _, dep := range r.DependsOn {
			if a := resourceConfigAddr(dep); a != "" {
				set[a] = true
			}
		}
	}
	return d.closure()
}

var dotEdge = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"\s*->\s*"((?:[^"\\]|\\.)*)"`)

// depsFromDOT reads `terraform graph` output. Both forms are understood: the
// resource-only summary of Terraform >= 1.7 ("coder_agent.dev") and the full
// operation graph of older versions and OpenTofu ("[root] coder_agent.dev
// (expand)"), whose variable, local, output and provider nodes are walked
// through.
func depsFromDOT(dot string) deps {
	adj := map[string][]string{}
	for _, m := range dotEdge.FindAllStringSubmatch(dot, -1) {
		from, to := dotNode(m[1]), dotNode(m[2])
		if strings.HasSuffix(from, "(close)") || from == "root" {
			continue
		}
		adj[from] = append(adj[from], to)
	}
	d := deps{}
	for node := range adj {
		addr := resourceConfigAddr(node)
		if addr == "" {
			continue
		}
		set := d[addr]
		if set == nil {
			set = map[string]bool{}
			d[addr] = set
		}
		seen := map[string]bool{node: true}
		stack := append([]string(nil), adj[node]...)
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[n] {
				continue
			}
			seen[n] = true
			if a := resourceConfigAddr(n); a != "" && a != addr {
				set[a] = true
			}
			stack = append(stack, adj[n]...)
		}
	}
	return d
}

// dotNode turns a DOT node id into an address-like name.
func dotNode(id string) string {
	id = strings.ReplaceAll(id, `\"`, `"`)
	id = strings.TrimPrefix(id, "[root] ")
	if strings.HasSuffix(id, ")") {
		if i := strings.LastIndex(id, " ("); i > 0 {
			if strings.HasSuffix(id, "(close)") {
				return id
			}
			id = id[:i]
		}
	}
	return id
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// resourceConfigAddr returns the configuration address ("module.a.coder_agent.dev",
// instance keys removed) of a resource or data source address, or "" when addr
// names something else (a variable, local, output, provider, module).
func resourceConfigAddr(addr string) string {
	segs := splitAddress(addr)
	var mods []string
	for len(segs) >= 2 && segs[0] == "module" {
		name := stripKey(segs[1])
		if !identRe.MatchString(name) {
			return ""
		}
		mods = append(mods, "module."+name)
		segs = segs[2:]
	}
	var rest []string
	switch {
	case len(segs) == 3 && segs[0] == "data":
		rest = []string{"data", segs[1], stripKey(segs[2])}
	case len(segs) == 2:
		switch segs[0] {
		case "var", "local", "output", "module", "path", "terraform", "count", "each", "self", "data", "check", "meta":
			return ""
		}
		rest = []string{segs[0], stripKey(segs[1])}
	default:
		return ""
	}
	for _, p := range rest {
		if !identRe.MatchString(p) {
			return ""
		}
	}
	return strings.Join(append(mods, rest...), ".")
}

// splitAddress splits on the dots outside brackets and quotes.
func splitAddress(addr string) []string {
	var (
		segs  []string
		depth int
		quote bool
		start int
	)
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		switch {
		case quote && c == '\\':
			i++
		case c == '"':
			quote = !quote
		case quote:
		case c == '[':
			depth++
		case c == ']':
			depth--
		case c == '.' && depth == 0:
			segs = append(segs, addr[start:i])
			start = i + 1
		}
	}
	return append(segs, addr[start:])
}

func stripKey(seg string) string {
	if i := strings.IndexByte(seg, '['); i >= 0 {
		return seg[:i]
	}
	return seg
}

// tfResource is one resource instance of a plan or state, lifted out of its
// module.
type tfResource struct {
	Address    string // instance address, e.g. module.a[0].coder_agent.dev[1]
	ConfigAddr string // configuration address, e.g. module.a.coder_agent.dev
	Mode       tfjson.ResourceMode
	Type       string
	Name       string
	Index      any
	Attrs      map[string]any
	DependsOn  []string
}

// flatten lists the instances of m and its child modules, in Terraform's
// order.
func flatten(m *tfjson.StateModule, mode tfjson.ResourceMode) []tfResource {
	var out []tfResource
	var walk func(m *tfjson.StateModule)
	walk = func(m *tfjson.StateModule) {
		if m == nil {
			return
		}
		for _, r := range m.Resources {
			if r == nil || (mode != "" && r.Mode != mode) {
				continue
			}
			out = append(out, tfResource{
				Address:    r.Address,
				ConfigAddr: resourceConfigAddr(r.Address),
				Mode:       r.Mode,
				Type:       r.Type,
				Name:       r.Name,
				Index:      r.Index,
				Attrs:      r.AttributeValues,
				DependsOn:  r.DependsOn,
			})
		}
		for _, c := range m.ChildModules {
			walk(c)
		}
	}
	walk(m)
	return out
}

// sameKey reports whether two instances have the same count/for_each key.
func sameKey(a, b tfResource) bool {
	return a.Index != nil && b.Index != nil && fmt.Sprint(a.Index) == fmt.Sprint(b.Index)
}

// closestDependent picks, among cands, the one that depends on target with
// the fewest resources in between; -1 if none depends on it.
func (d deps) closestDependent(target tfResource, cands []tfResource) int {
	return d.pick(target, cands, func(c tfResource) (bool, int) {
		if !d[c.ConfigAddr][target.ConfigAddr] {
			return false, 0
		}
		return true, d.between(c.ConfigAddr, target.ConfigAddr)
	})
}

// closestDependency picks, among cands, the one source depends on with the
// fewest resources in between; -1 if source depends on none of them.
func (d deps) closestDependency(source tfResource, cands []tfResource) int {
	return d.pick(source, cands, func(c tfResource) (bool, int) {
		if !d[source.ConfigAddr][c.ConfigAddr] {
			return false, 0
		}
		return true, d.between(source.ConfigAddr, c.ConfigAddr)
	})
}

func (d deps) pick(ref tfResource, cands []tfResource, score func(tfResource) (bool, int)) int {
	best, bestScore, bestSame := -1, 0, false
	for i, c := range cands {
		if c.Address == ref.Address {
			continue
		}
		ok, s := score(c)
		if !ok {
			continue
		}
		same := sameKey(ref, c)
		if best < 0 || s < bestScore || (s == bestScore && same && !bestSame) {
			best, bestScore, bestSame = i, s, same
		}
	}
	return best
}
