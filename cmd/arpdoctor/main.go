// Command arpdoctor diagnoses and fixes Linux ARP and neighbor-cache
// problems. See the commands package for the command line.
package main

import (
	"os"

	"github.com/arpdoctor/arpdoctor/commands"
)

func main() {
	ctx, stop := commands.SignalContext()
	code := commands.Main(ctx, commands.System(), os.Args[1:])
	stop()
	os.Exit(code)
}
