package apikey_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/apikey"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	id, secret, hashed, err := apikey.Generate()
	require.NoError(t, err)
	gotID, gotSecret, err := apikey.Parse(apikey.Token(id, secret))
	require.NoError(t, err)
	require.Equal(t, id, gotID)
	require.Equal(t, secret, gotSecret)
	require.True(t, apikey.Matches(secret, hashed))
	require.False(t, apikey.Matches(secret+"x", hashed))
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{"", "-", "abc", "abcdefghij-short", "abcdefghij-" + "x'; DROP TABLE x;--aaaa", "abcdefghijk-abcdefghijklmnopqrstuv", "abcdéfghij-abcdefghijklmnopqrstuv"} {
		_, _, err := apikey.Parse(tok)
		require.ErrorIs(t, err, apikey.ErrMalformed, tok)
	}
}
