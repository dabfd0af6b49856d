// Package commands holds arpdoctor's command line: the cobra root, one file
// per subcommand (flags, validation, rendering), the streams they write to
// and the mapping of errors to exit codes. The work itself lives in the
// library packages (neigh, capture, sysctl); nothing here talks to the
// network.
package commands
