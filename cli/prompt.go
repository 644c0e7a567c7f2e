package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// This file asks people things on a terminal: lines, passwords and
// yes/no confirmations. Off a terminal nothing is asked.

// confirm asks a yes/no question on a terminal. Elsewhere destructive
// actions need -y; others go ahead.
func (r *Root) confirm(in *prompter, yes, destructive bool, question string) error {
	if yes {
		return nil
	}
	if !in.interactive() {
		if destructive {
			return fmt.Errorf("not a terminal, so nobody can confirm %q: pass -y (--yes) to go ahead", strings.TrimSuffix(question, "?"))
		}
		return nil
	}
	answer, err := in.line(question + " [y/N] ")
	if err != nil {
		return err
	}
	switch strings.ToLower(answer) {
	case "y", "yes":
		return nil
	}
	return errors.New("canceled: nothing was changed")
}

// prompter asks questions on a terminal.
type prompter struct {
	in  io.Reader
	out io.Writer
	br  *bufio.Reader
}

func newPrompter(in io.Reader, out io.Writer) *prompter {
	return &prompter{in: in, out: out, br: bufio.NewReader(in)}
}

func (p *prompter) interactive() bool {
	f, ok := p.in.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *prompter) line(q string) (string, error) {
	fmt.Fprint(p.out, q)
	s, err := p.br.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && s != "") {
		return "", fmt.Errorf("read answer: %w", err)
	}
	return strings.TrimSpace(s), nil
}

func (p *prompter) secret(q string) (string, error) {
	f, ok := p.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return p.line(q)
	}
	fmt.Fprint(p.out, q)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(p.out)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(b), nil
}
