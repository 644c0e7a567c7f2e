package clistat

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Prefix is a binary (IEC) prefix that scales a Result for people: "Ki",
// "Mi", "Gi", "Ti", or "" for none. JSON output is never scaled.
type Prefix string

// The prefixes `--prefix` accepts.
const (
	PrefixNone Prefix = ""
	PrefixKibi Prefix = "Ki"
	PrefixMebi Prefix = "Mi"
	PrefixGibi Prefix = "Gi"
	PrefixTebi Prefix = "Ti"
)

// ParsePrefix parses a --prefix value.
func ParsePrefix(s string) (Prefix, error) {
	switch p := Prefix(s); p {
	case PrefixKibi, PrefixMebi, PrefixGibi, PrefixTebi:
		return p, nil
	}
	return "", fmt.Errorf("unknown prefix %q: use Ki, Mi, Gi or Ti", s)
}

// scale is the divisor the prefix stands for.
func (p Prefix) scale() float64 {
	switch p {
	case PrefixKibi:
		return 1 << 10
	case PrefixMebi:
		return 1 << 20
	case PrefixGibi:
		return 1 << 30
	case PrefixTebi:
		return 1 << 40
	}
	return 1
}

// Result is one measurement. Used and Total are in Unit ("cores" or "B"),
// unscaled; Total is nil when the resource has no finite size. The JSON
// shape is the incumbent's: {"total":..,"unit":..,"used":..}.
type Result struct {
	Total  *float64 `json:"total"`
	Unit   string   `json:"unit"`
	Used   float64  `json:"used"`
	Prefix Prefix   `json:"-"`
}

// String renders the result as the incumbent's CLI does, e.g.
// "0.5/2 cores (25%)" or "1.2/4 GiB (30%)": at most three decimals, fewer
// as the number grows, trailing zeros dropped.
func (r Result) String() string {
	s := r.Prefix.scale()
	var b strings.Builder
	b.WriteString(humanize(r.Used / s))
	if r.Total != nil {
		b.WriteString("/")
		b.WriteString(humanize(*r.Total / s))
	}
	b.WriteString(" ")
	b.WriteString(string(r.Prefix))
	b.WriteString(r.Unit)
	if r.Total != nil && *r.Total > 0 {
		b.WriteString(" (")
		b.WriteString(strconv.FormatFloat(r.Used / *r.Total * 100, 'f', 0, 64))
		b.WriteString("%)")
	}
	return strings.TrimSpace(b.String())
}

// humanize rounds f to a precision that keeps about three significant
// digits (3 decimals below 1, none from 100 up).
func humanize(f float64) string {
	var prec int
	switch a := math.Abs(f); {
	case a == 0:
		prec = 0
	case a < 1:
		prec = 3
	case a < 10:
		prec = 2
	case a < 100:
		prec = 1
	}
	p := math.Pow(10, float64(prec))
	return strconv.FormatFloat(math.Round(f*p)/p, 'f', -1, 64)
}

func ptr(f float64) *float64 { return &f }
