package terraform

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestRedactGitSSHKey: a real OpenSSH ed25519 key, as coderd hands it to
// every workspace build, never reaches the job log, whether Terraform
// prints it whole, line by line, or JSON-escaped on one line (as in a
// diagnostic quoting the value).
func TestRedactGitSSHKey(t *testing.T) {
	t.Parallel()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := string(pem.EncodeToMemory(block))
	red := newRedactor(Metadata{OwnerSSHPrivateKey: key, OwnerSSHPublicKey: "ssh-ed25519 AAAA"}.secrets())

	body := strings.Split(strings.TrimSpace(key), "\n")
	body = body[1 : len(body)-1] // the base64 lines between BEGIN and END
	texts := []string{key, `Error: value "` + strings.ReplaceAll(key, "\n", `\n`) + `" is not valid`}
	texts = append(texts, body...)
	for _, text := range texts {
		got := red.redact(text)
		for _, line := range body {
			if strings.Contains(got, line) {
				t.Fatalf("key line %q survived redaction of %.40q: %q", line, text, got)
			}
		}
	}
}
