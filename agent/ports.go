package agent

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/opencoder/coder/codersdk"
)

// listeningPorts reads the TCP sockets in LISTEN state from /proc (Linux);
// elsewhere it reports none.
func listeningPorts() ([]codersdk.ListeningPort, error) {
	seen := map[uint16]bool{}
	var out []codersdk.ListeningPort
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			_, portHex, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			p, err := strconv.ParseUint(portHex, 16, 16)
			if err != nil || p < 9 || seen[uint16(p)] {
				continue // ports below 9 are the agent's own tailnet services
			}
			seen[uint16(p)] = true
			out = append(out, codersdk.ListeningPort{Network: "tcp", Port: uint16(p)})
		}
		f.Close()
	}
	slices.SortFunc(out, func(a, b codersdk.ListeningPort) int { return int(a.Port) - int(b.Port) })
	return out, nil
}
