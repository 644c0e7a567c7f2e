// Package gitsshkey makes and keeps each user's git SSH key pair: the key
// the user adds to GitHub or GitLab once, and that every workspace of theirs
// uses for git over SSH (the agent fetches the private key; Terraform gets
// both through the coder provider's data.coder_workspace_owner).
//
// House rules: keys are ed25519, the private key in OpenSSH format and the
// public key as one authorized_keys line; a key is made on first use
// (Ensure), never eagerly at user creation, so every path that creates
// users, and every user who existed before keys did, is covered by one
// function. Authorization is the caller's job.
package gitsshkey

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/coderd/database"
)

// Generate makes a new ed25519 key pair: the private key PEM-encoded in
// OpenSSH format (what ssh and git read from a file) and the public key as
// an authorized_keys line without a trailing newline.
func Generate() (privatePEM, authorizedKey string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return "", "", fmt.Errorf("encode private key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", fmt.Errorf("encode public key: %w", err)
	}
	return string(pem.EncodeToMemory(block)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), nil
}

// Ensure returns the user's key pair, making and storing one if the user
// has none yet. Concurrent first calls agree on one key.
func Ensure(ctx context.Context, db *database.Store, userID uuid.UUID, now time.Time) (database.GitSSHKey, error) {
	k, err := db.GetGitSSHKey(ctx, userID)
	if err == nil || !errors.Is(err, database.ErrNotFound) {
		return k, err
	}
	priv, pub, err := Generate()
	if err != nil {
		return database.GitSSHKey{}, err
	}
	return db.InsertGitSSHKeyIfAbsent(ctx, database.GitSSHKey{UserID: userID, PrivateKey: priv, PublicKey: pub, CreatedAt: now, UpdatedAt: now})
}

// Regenerate replaces the user's key pair with a new one (the old public
// key stops working wherever it was added) and returns the new pair.
func Regenerate(ctx context.Context, db *database.Store, userID uuid.UUID, now time.Time) (database.GitSSHKey, error) {
	priv, pub, err := Generate()
	if err != nil {
		return database.GitSSHKey{}, err
	}
	return db.UpsertGitSSHKey(ctx, database.GitSSHKey{UserID: userID, PrivateKey: priv, PublicKey: pub, CreatedAt: now, UpdatedAt: now})
}
