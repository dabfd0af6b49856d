package neigh

// WithReceiveBuffer sets the event socket's buffer, small to provoke
// overruns in tests.
func WithReceiveBuffer(o WatchOptions, n int) WatchOptions {
	o.rcvbuf = n
	return o
}
