package provisionerdserver

import (
	"slices"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
)

// ValidateTags checks provisioner tags under field, adding what is wrong to
// v, and returns them with the defaults filled in.
func ValidateTags(v *httpapi.Validator, field string, in map[string]string) map[string]string {
	out := database.DefaultTags()
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 32 {
		v.Add(field, "at most 32 tags")
	}
	for _, k := range keys {
		val := in[k]
		v.Text(field+"."+k, k, 64)
		v.Text(field+"."+k, val, 256)
		if k == "" {
			v.Add(field, "tag names must not be empty")
		}
		out[k] = val
	}
	return out
}
