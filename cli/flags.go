package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// Each option is declared once: flag name, env twin, default and help. The
// env var, when set, replaces the default, and the help shows its name.

func envUsage(usage, env string) string {
	if env == "" {
		return usage
	}
	return fmt.Sprintf("%s\nConsumes $%s.", usage, env)
}

func flagString(fs *pflag.FlagSet, getenv func(string) string, dst *string, name, env, def, usage string) {
	if v := getenvOr(getenv, env); v != "" {
		def = v
	}
	fs.StringVar(dst, name, def, envUsage(usage, env))
}

func flagBool(fs *pflag.FlagSet, getenv func(string) string, dst *bool, name, env string, def bool, usage string) {
	if v := getenvOr(getenv, env); v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			def = b
		}
	}
	fs.BoolVar(dst, name, def, envUsage(usage, env))
}

func flagInt(fs *pflag.FlagSet, getenv func(string) string, dst *int, name, env string, def int, usage string) {
	if v := getenvOr(getenv, env); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			def = n
		}
	}
	fs.IntVar(dst, name, def, envUsage(usage, env))
}

func flagDuration(fs *pflag.FlagSet, getenv func(string) string, dst *time.Duration, name, env string, def time.Duration, usage string) {
	if v := getenvOr(getenv, env); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			def = d
		}
	}
	fs.DurationVar(dst, name, def, envUsage(usage, env))
}

func flagStringArray(fs *pflag.FlagSet, getenv func(string) string, dst *[]string, name, env string, usage string) {
	var def []string
	if v := getenvOr(getenv, env); v != "" {
		def = splitList(v)
	}
	fs.StringArrayVar(dst, name, def, envUsage(usage, env))
}

func getenvOr(getenv func(string) string, env string) string {
	if env == "" || getenv == nil {
		return ""
	}
	return getenv(env)
}

func splitList(v string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ',' {
			if s := v[start:i]; s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	return out
}
