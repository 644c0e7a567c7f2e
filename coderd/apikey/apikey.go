// Package apikey makes and parses API tokens of the form "<id>-<secret>".
// The id (10 characters) is the public database key; only sha256(secret)
// (22 characters of randomness) is stored, so a database leak reveals no
// usable token and a lookup costs one indexed read plus one hash.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

const (
	idLength     = 10
	secretLength = 22
	alphabet     = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// ErrMalformed means the token is not of the "<id>-<secret>" form.
var ErrMalformed = errors.New("malformed token: want <id>-<secret>")

// Generate returns a new id, secret and the secret's hash to store.
func Generate() (id, secret string, hashed []byte, err error) {
	id, err = randomString(idLength)
	if err != nil {
		return "", "", nil, err
	}
	secret, err = randomString(secretLength)
	if err != nil {
		return "", "", nil, err
	}
	return id, secret, Hash(secret), nil
}

// Token joins id and secret as clients send them.
func Token(id, secret string) string { return id + "-" + secret }

// Parse splits a token into id and secret.
func Parse(token string) (id, secret string, err error) {
	id, secret, ok := strings.Cut(token, "-")
	if !ok || len(id) != idLength || len(secret) != secretLength || !valid(id) || !valid(secret) {
		return "", "", ErrMalformed
	}
	return id, secret, nil
}

// Hash is what is stored for a secret.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Matches compares a presented secret with a stored hash in constant time.
func Matches(secret string, hashed []byte) bool {
	return subtle.ConstantTimeCompare(Hash(secret), hashed) == 1
}

func valid(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune(alphabet, c) {
			return false
		}
	}
	return true
}

func randomString(n int) (string, error) {
	// Rejection sampling keeps the distribution uniform over the alphabet.
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		for _, b := range buf {
			if int(b) < 256-256%len(alphabet) {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}
