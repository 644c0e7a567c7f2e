package provisionerdserver

import (
	"slices"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// ValidateTags checks provisioner tags and fills in the defaults.
func ValidateTags(field string, in map[string]string) (map[string]string, []codersdk.ValidationError) {
	out := database.DefaultTags()
	var errs []codersdk.ValidationError
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 32 {
		errs = append(errs, codersdk.ValidationError{Field: field, Detail: "at most 32 tags"})
	}
	for _, k := range keys {
		val := in[k]
		var v httpapi.Validator
		v.Text(field+"."+k, k, 64)
		v.Text(field+"."+k, val, 256)
		if k == "" {
			v.Add(field, "tag names must not be empty")
		}
		errs = append(errs, v.Errors()...)
		out[k] = val
	}
	return out, errs
}
