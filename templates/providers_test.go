package templates_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// utilityMain uses the utility providers `make toolchain` builds (time,
// local, http) and Terraform's built-in terraform_data, which takes the
// place of hashicorp/null (not in the mirror: see versions.env).
const utilityMain = `terraform {
  required_providers {
    time = {
      source  = "hashicorp/time"
      version = ">= 0.9.0"
    }
    local = {
      source  = "hashicorp/local"
      version = ">= 1.4.0"
    }
    http = {
      source  = "hashicorp/http"
      version = ">= 1.2.0"
    }
  }
}

variable "url" {
  type = string
}

resource "time_static" "created" {}

resource "time_offset" "expires" {
  base_rfc3339 = time_static.created.rfc3339
  offset_days  = 7
}

data "http" "motd" {
  url = var.url
}

resource "local_file" "motd" {
  filename = "${path.module}/motd.txt"
  content  = "${data.http.motd.body} until ${time_offset.expires.rfc3339}"
}

data "local_file" "motd" {
  filename = local_file.motd.filename
}

resource "terraform_data" "motd" {
  input = data.local_file.motd.content
}

output "created" {
  value = time_static.created.unix
}

output "expires" {
  value = time_offset.expires.unix
}

output "motd" {
  value = terraform_data.motd.output
}
`

// TestUtilityProvidersApply applies a configuration using every utility
// provider of the mirror: init must find them offline and apply must run
// them (the http data source reads a local server, the local provider
// writes and reads back a file).
func TestUtilityProvidersApply(t *testing.T) {
	t.Parallel()
	tc := requireToolchain(t)
	for _, p := range []string{"hashicorp/time", "hashicorp/local", "hashicorp/http"} {
		require.True(t, tc.inMirror(p), "%s is missing from %s: run `make toolchain` (without TOOLCHAIN_SKIP_UTILITY)", p, tc.mirror)
	}
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("hello from the mirror"))
	}))
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte(utilityMain), 0o600))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env := tc.env("TF_VAR_url=" + srv.URL + "/motd")
	tc.run(ctx, t, dir, env, "init", "-input=false")
	tc.run(ctx, t, dir, env, "apply", "-input=false", "-auto-approve")

	var out struct {
		Created struct{ Value int64 }  `json:"created"`
		Expires struct{ Value int64 }  `json:"expires"`
		Motd    struct{ Value string } `json:"motd"`
	}
	require.NoError(t, json.Unmarshal([]byte(tc.run(ctx, t, dir, env, "output", "-json")), &out))
	require.Equal(t, int64(7*24*3600), out.Expires.Value-out.Created.Value, "time_offset of 7 days")
	written := string(readFile(t, filepath.Join(dir, "motd.txt")))
	require.Regexp(t, `^hello from the mirror until \d{4}-\d\d-\d\dT`, written)
	require.Equal(t, written, out.Motd.Value, "terraform_data holds what local_file wrote")
	require.Positive(t, hits.Load(), "the http data source fetched the URL")
}
