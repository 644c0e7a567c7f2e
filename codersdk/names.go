package codersdk

import (
	"errors"
	"regexp"
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$`)

// ValidateName checks a username or resource name (template, workspace,
// organization): 1-32 ASCII letters, digits and single inner hyphens, so it
// is safe in hostnames and URLs. The server and every client (CLI prompts,
// dashboard forms) share this one rule.
func ValidateName(s string) error {
	switch {
	case s == "":
		return errors.New("is required")
	case len(s) > 32:
		return errors.New("must be at most 32 characters")
	case !nameRE.MatchString(s):
		return errors.New("must contain only letters, digits and single hyphens, not at either end")
	}
	return nil
}
