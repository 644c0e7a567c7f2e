package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd"
	"github.com/opencoder/coder/provisionerd/terraform"
)

// builtinProvisioners are the daemons `coder server` runs itself: the same
// code and protocol as `coder provisioner start`, over loopback HTTP.
type builtinProvisioners struct {
	daemons []*provisionerd.Daemon
}

func startBuiltinProvisioners(ctx context.Context, o serverOptions, addr *net.TCPAddr, tlsOn bool, psk string, logger *slog.Logger) (*builtinProvisioners, error) {
	b := &builtinProvisioners{}
	if o.provisionerDaemons == 0 {
		return b, nil
	}
	cacheDir := o.cacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(o.configDir, "cache")
	}
	runner, err := provisionerd.NewTerraformRunner(ctx, terraform.Options{
		TerraformPath: o.terraformPath, CacheDir: filepath.Join(cacheDir, "provisioner"), ProviderMirror: o.providerMirror,
		Logger: logger.With("component", "terraform"),
	})
	if err != nil {
		return nil, fmt.Errorf("built-in provisioners: %w (or start the server with --provisioner-daemons 0 and run external ones)", err)
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	hc := &http.Client{}
	if tlsOn {
		// Loopback to ourselves: the certificate is for the public name.
		scheme = "https"
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // loopback to this process
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(addr.Port))}
	for i := range o.provisionerDaemons {
		client := codersdk.New(u)
		client.HTTPClient = hc
		client.Header = http.Header{codersdk.ProvisionerDaemonPSKHeader: {psk}}
		d := provisionerd.New(client, provisionerd.Options{
			Name: fmt.Sprintf("built-in-%d", i+1), Runner: runner, Logger: logger.With("component", "provisionerd", "daemon", i+1),
		})
		d.Start()
		b.daemons = append(b.daemons, d)
	}
	logger.Info("built-in provisioners started", "count", o.provisionerDaemons, "terraform", runner.String())
	return b, nil
}

// shutdown lets running jobs finish until ctx ends, then cancels them (each
// is reported failed with a clear reason, never abandoned).
func (b *builtinProvisioners) shutdown(ctx context.Context) {
	var wg sync.WaitGroup
	for _, d := range b.daemons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Shutdown(ctx); err != nil {
				_ = d.Close()
			}
		}()
	}
	wg.Wait()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// close stops the daemons at once (after shutdown, a no-op).
func (b *builtinProvisioners) close() {
	for _, d := range b.daemons {
		_ = d.Close()
	}
}
