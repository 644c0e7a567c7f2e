package gitsshkey_test

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/coderd/gitsshkey"
)

// TestGenerate: the private key is an OpenSSH PEM that ssh can read and
// whose public half is the authorized_keys line; two calls differ.
func TestGenerate(t *testing.T) {
	t.Parallel()
	priv, pub, err := gitsshkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(priv, "-----BEGIN OPENSSH PRIVATE KEY-----\n") || !strings.HasSuffix(priv, "-----END OPENSSH PRIVATE KEY-----\n") {
		t.Fatalf("private key is not an OpenSSH PEM: %.60q", priv)
	}
	if strings.ContainsAny(pub, "\r\n") || !strings.HasPrefix(pub, "ssh-ed25519 AAAA") {
		t.Fatalf("public key is not one ssh-ed25519 line: %q", pub)
	}
	signer, err := ssh.ParsePrivateKey([]byte(priv))
	if err != nil {
		t.Fatalf("parse private key: %v", err)
	}
	parsed, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		t.Fatalf("parse public key: %v", err)
	}
	if string(parsed.Marshal()) != string(signer.PublicKey().Marshal()) {
		t.Fatal("the private key is not the public key's pair")
	}
	_, pub2, err := gitsshkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if pub2 == pub {
		t.Fatal("two generated keys are equal")
	}
}

// BenchmarkGenerate is the cost a user's first key adds to the request
// that makes it.
func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		if _, _, err := gitsshkey.Generate(); err != nil {
			b.Fatal(err)
		}
	}
}
