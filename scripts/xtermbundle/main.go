// Command xtermbundle turns Debian's xterm.js (package node-xterm: CommonJS
// modules under /usr/share/nodejs/xterm/lib) into the one browser script and
// stylesheet the web terminal loads. Debian's own browser build
// (libjs-xterm's /usr/share/javascript/xterm/xterm.js) is a 288-byte stub
// that calls require() and does not run in a browser, so we bundle the
// modules ourselves with esbuild: no npm registry, no CDN, fully offline.
//
//	go run ./scripts/xtermbundle -out site/static/vendor
//
// The output is written only when it changed, so make stays quiet and
// go:embed sees a stable tree. The script defines window.Terminal, with
// the fit addon applied (term.fit()).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "xtermbundle:", err)
		os.Exit(1)
	}
}

func run() error {
	src := flag.String("src", "/usr/share/nodejs/xterm", "Directory of the node-xterm package (Debian: apt-get install node-xterm).")
	out := flag.String("out", "site/static/vendor", "Directory to write xterm.js and xterm.css into.")
	flag.Parse()

	entry := filepath.Join(*src, "lib", "public", "Terminal.js")
	fit := filepath.Join(*src, "lib", "addons", "fit", "fit.js")
	css := filepath.Join(*src, "lib", "xterm.css")
	for _, p := range []string{entry, fit, css} {
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s not found: install Debian's node-xterm (make deps does)", p)
			}
			return fmt.Errorf("stat %s: %w", p, err)
		}
	}
	res := api.Build(api.BuildOptions{
		// The fit addon sizes the terminal to its container; it is
		// applied here so pages get one global, window.Terminal.
		Stdin: &api.StdinOptions{
			Contents:   "import { Terminal } from " + strconv.Quote(entry) + ";\nimport * as fit from " + strconv.Quote(fit) + ";\nTerminal.applyAddon(fit);\nwindow.Terminal = Terminal;\n",
			ResolveDir: *src,
			Loader:     api.LoaderJS,
		},
		Bundle:            true,
		Format:            api.FormatIIFE,
		MinifyWhitespace:  true,
		MinifySyntax:      true,
		MinifyIdentifiers: true,
		Target:            api.ES2017,
		LegalComments:     api.LegalCommentsEndOfFile,
		Outfile:           "xterm.js",
		Write:             false,
	})
	if len(res.Errors) > 0 {
		msgs := api.FormatMessages(res.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
		return fmt.Errorf("bundle %s:\n%s", entry, strings.Join(msgs, "\n"))
	}
	if len(res.OutputFiles) != 1 {
		return fmt.Errorf("bundle %s: %d output files, want 1", entry, len(res.OutputFiles))
	}
	cssBytes, err := os.ReadFile(css)
	if err != nil {
		return fmt.Errorf("read %s: %w", css, err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", *out, err)
	}
	header := []byte("/* xterm.js from Debian's node-xterm, bundled by scripts/xtermbundle. MIT licence: /usr/share/doc/node-xterm/copyright */\n")
	if err := writeIfChanged(filepath.Join(*out, "xterm.js"), append(header, res.OutputFiles[0].Contents...)); err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(*out, "xterm.css"), cssBytes)
}

func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	fmt.Fprintf(os.Stderr, "xtermbundle: wrote %s (%d bytes)\n", path, len(data))
	return nil
}
