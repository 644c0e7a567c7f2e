// Package speedtest measures throughput between a client and the workspace
// agent (port 3 on the agent's tailnet address), in either direction, over
// any net.Conn.
//
// # Wire protocol
//
// The client opens a connection and sends one byte naming the direction,
// as seen from the client:
//
//   - 'D' (download): the server sends bulk data until the client closes the
//     connection (or MaxDuration passes). The client counts what it reads
//     during the test's duration.
//   - 'U' (upload): the client sends frames, each a 4-byte big-endian length
//     then that many bytes, for the test's duration, then a zero-length
//     frame. The server answers with the 8-byte big-endian number of payload
//     bytes it received and closes. The client's result is that count over
//     the time from the first byte to the answer, so data still in flight
//     when the client stops writing is counted and timed.
//
// Unknown direction bytes make the server close the connection.
package speedtest
