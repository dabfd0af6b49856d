// Command arpdoctor diagnoses and fixes Linux ARP and neighbor-cache
// problems. See the commands package for the command line.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/arpdoctor/arpdoctor/commands"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := commands.Main(ctx, commands.System(), os.Args[1:])
	stop()
	os.Exit(code)
}
