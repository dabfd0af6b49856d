// Package commands holds arpdoctor's command line: one file per subcommand
// (flags, validation, gathering, rendering) over the library packages.
//
// Beside them: the cobra root, the streams, the one table renderer, the
// mapping of errors to exit codes, and the seams through which commands
// reach the kernel, which tests replace. The work itself lives in the
// libraries (neigh, capture, sysctl, diagnose, namespaces, exporter);
// nothing here talks to the network.
package commands
