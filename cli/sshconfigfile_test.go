package cli

import (
	"strings"
	"testing"
)

// FuzzSSHConfigBlock feeds arbitrary OpenSSH configs to the managed block
// parser and checks, for every input: no panic; a config the parser
// refuses is refused by the splice too; writing the block then parsing
// the result finds exactly that block; every byte outside the block is
// kept (appending adds at most the newlines that separate it); and a
// second write changes nothing.
func FuzzSSHConfigBlock(f *testing.F) {
	for _, seed := range []string{
		"",
		"Host example\n  User me\n",
		"Host example\n  Port 2222",
		"# mine\r\nHost a\r\n\r\n" + sshBlockBegin + "\nHost coder.gone\n  ProxyCommand x\n" + sshBlockEnd + "\nHost b # after\n  User z",
		sshBlockBegin + "\n" + sshBlockEnd,
		"  " + sshBlockBegin + "  \r\n\t" + sshBlockEnd + "\r\n",
		sshBlockEnd + "\n" + sshBlockBegin + "\n",
		sshBlockBegin + "\n" + sshBlockBegin + "\n" + sshBlockEnd + "\n",
		sshBlockBegin + "\nHost x\n",
		"\n\n\n",
		"Host a\n\n",
		"\x00\xff\n" + sshBlockBegin + "\n\xfe\n" + sshBlockEnd + "\n\x00",
	} {
		f.Add(seed)
	}
	hosts := []sshHost{{name: "coder.alpha", target: "alpha"}, {name: "coder.beta.front", target: "beta.front"}}
	block := sshConfigBlock(hosts, sshProxyCommand("/usr/bin/coder", "/home/me/.config/coderv2"), []string{"ForwardAgent yes"}, "https://coder.example.com")
	blockText := strings.Join(block, "\n") + "\n"

	f.Fuzz(func(t *testing.T, old string) {
		parts, perr := parseSSHConfig([]byte(old))
		updated, serr := spliceSSHBlock([]byte(old), block)
		if perr != nil {
			if serr == nil {
				t.Fatalf("the parser refuses the config (%v) but the splice wrote it", perr)
			}
			return
		}
		if serr != nil {
			t.Fatalf("splice: %v", serr)
		}
		if parts.before+parts.block+parts.after != old {
			t.Fatalf("the parts do not make up the file:\n%q", old)
		}
		got, err := parseSSHConfig(updated)
		if err != nil {
			t.Fatalf("parse what was written: %v\n%q", err, updated)
		}
		if !got.found || got.block != blockText {
			t.Fatalf("the written block does not parse back: found=%v\n%q", got.found, got.block)
		}
		if parts.found {
			if got.before != parts.before || got.after != parts.after {
				t.Fatalf("text outside the block changed:\nbefore %q -> %q\nafter %q -> %q", parts.before, got.before, parts.after, got.after)
			}
		} else {
			sep, ok := strings.CutPrefix(got.before, old)
			if !ok || strings.Trim(sep, "\n") != "" || len(sep) > 2 || got.after != "" {
				t.Fatalf("appending changed the user's text: %q -> before %q, after %q", old, got.before, got.after)
			}
		}
		again, err := spliceSSHBlock(updated, block)
		if err != nil || string(again) != string(updated) {
			t.Fatalf("a second write changed the file (err %v):\n%q\n%q", err, updated, again)
		}
	})
}
