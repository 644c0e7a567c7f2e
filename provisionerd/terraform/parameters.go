package terraform

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/opencoder/coder/codersdk"
)

// parameterAttrs is the coder_parameter data source's schema
// (terraform-provider-coder provider/parameter.go).
type parameterAttrs struct {
	Name        string  `json:"name"`
	DisplayName string  `json:"display_name"`
	Description string  `json:"description"`
	Type        string  `json:"type"`
	FormType    string  `json:"form_type"`
	Styling     string  `json:"styling"`
	Mutable     bool    `json:"mutable"`
	Default     *string `json:"default"`
	Icon        string  `json:"icon"`
	Optional    bool    `json:"optional"`
	Order       int32   `json:"order"`
	Ephemeral   bool    `json:"ephemeral"`
	Option      []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Value       string `json:"value"`
		Icon        string `json:"icon"`
	} `json:"option"`
	Validation []struct {
		Min         int32  `json:"min"`
		MinDisabled bool   `json:"min_disabled"`
		Max         int32  `json:"max"`
		MaxDisabled bool   `json:"max_disabled"`
		Monotonic   string `json:"monotonic"`
		Regex       string `json:"regex"`
		Error       string `json:"error"`
	} `json:"validation"`
}

// convertParameters reads the coder_parameter data sources. Names must be
// unique; the result is sorted by order, then in Terraform's address order.
func convertParameters(all []tfResource) ([]codersdk.TemplateVersionParameter, error) {
	var out []codersdk.TemplateVersionParameter
	seen := map[string]string{}
	for _, r := range all {
		if r.Mode != tfjson.DataResourceMode || r.Type != "coder_parameter" {
			continue
		}
		var a parameterAttrs
		if err := decodeAttrs(r, &a); err != nil {
			return nil, err
		}
		if prev, ok := seen[a.Name]; ok {
			return nil, fmt.Errorf("coder_parameter names must be unique: %q is used by %s and %s", a.Name, prev, r.Address)
		}
		seen[a.Name] = r.Address
		p := codersdk.TemplateVersionParameter{
			Name:                 a.Name,
			DisplayName:          a.DisplayName,
			Description:          a.Description,
			DescriptionPlaintext: plaintext(a.Description),
			Type:                 a.Type,
			FormType:             a.FormType,
			Mutable:              a.Mutable,
			Icon:                 a.Icon,
			Required:             !a.Optional && a.Default == nil,
			Ephemeral:            a.Ephemeral,
			Order:                a.Order,
			Options:              []codersdk.TemplateVersionParameterOption{},
		}
		if a.Styling != "" && a.Styling != "{}" {
			p.Styling = a.Styling
		}
		if p.Type == "" {
			p.Type = "string"
		}
		if a.Default != nil {
			p.DefaultValue = *a.Default
		}
		for _, o := range a.Option {
			p.Options = append(p.Options, codersdk.TemplateVersionParameterOption{
				Name: o.Name, Description: o.Description, Value: o.Value, Icon: o.Icon,
			})
		}
		if len(a.Validation) > 0 {
			v := a.Validation[0]
			p.ValidationRegex = v.Regex
			p.ValidationError = v.Error
			p.ValidationMonotonic = codersdk.ValidationMonotonicOrder(v.Monotonic)
			if !v.MinDisabled {
				p.ValidationMin = ptr(v.Min)
			}
			if !v.MaxDisabled {
				p.ValidationMax = ptr(v.Max)
			}
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Order < out[j].Order })
	return out, nil
}

func ptr[T any](v T) *T { return &v }

var (
	mdImage    = regexp.MustCompile(`!\[([^\]]*)\]\([^)]*\)`)
	mdLink     = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	mdHeading  = regexp.MustCompile(`(?m)^\s{0,3}#{1,6}\s+`)
	mdQuote    = regexp.MustCompile(`(?m)^\s{0,3}>\s?`)
	mdStrong   = regexp.MustCompile(`(\*\*|__)(\S(?:.*?\S)?)(\*\*|__)`)
	mdEmphasis = regexp.MustCompile(`(^|[^\w*])\*(\S(?:[^*]*?\S)?)\*`)
	mdUnder    = regexp.MustCompile(`(^|\W)_(\S(?:[^_]*?\S)?)_(\W|$)`)
	mdCode     = regexp.MustCompile("`([^`]*)`")
	mdStrike   = regexp.MustCompile(`~~(\S(?:.*?\S)?)~~`)
)

// plaintext strips the Markdown syntax a parameter description commonly
// uses (links, images, emphasis, headings, quotes, code spans) for display
// where Markdown is not rendered, such as the CLI.
func plaintext(md string) string {
	s := mdImage.ReplaceAllString(md, "$1")
	s = mdLink.ReplaceAllString(s, "$1")
	s = mdHeading.ReplaceAllString(s, "")
	s = mdQuote.ReplaceAllString(s, "")
	s = mdStrong.ReplaceAllString(s, "$2")
	s = mdEmphasis.ReplaceAllString(s, "$1$2")
	s = mdUnder.ReplaceAllString(s, "$1$2$3")
	s = mdCode.ReplaceAllString(s, "$1")
	s = mdStrike.ReplaceAllString(s, "$1")
	return strings.TrimSpace(s)
}
