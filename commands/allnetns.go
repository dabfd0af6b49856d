package commands

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/arpdoctor/arpdoctor/namespaces"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// netnsTarget is one namespace of --all-netns and the way to its table.
type netnsTarget struct {
	ns   namespaces.Namespace
	open func() (neighClient, error)
}

// discoverNetNS finds every network namespace of the machine, under
// procRoot.
func discoverNetNS(ctx context.Context, procRoot string) ([]netnsTarget, []namespaces.Note, error) {
	return discoverWith(ctx, namespaces.Options{ProcRoot: procRoot})
}

// discoverWith finds the namespaces that opts says where to look for.
func discoverWith(ctx context.Context, opts namespaces.Options) ([]netnsTarget, []namespaces.Note, error) {
	res, err := namespaces.Discover(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	out := make([]netnsTarget, len(res.Namespaces))
	for i, ns := range res.Namespaces {
		out[i] = netnsTarget{ns: ns, open: func() (neighClient, error) {
			c, err := ns.Open()
			if err != nil {
				return nil, err
			}
			return c, nil
		}}
	}
	return out, res.Notes, nil
}

// netnsRef is a namespace as JSON names it beside each entry and finding.
type netnsRef struct {
	Label       string              `json:"label"`
	Inode       uint64              `json:"inode"`
	Name        string              `json:"name,omitempty"`
	Path        string              `json:"path"`
	Initial     bool                `json:"initial,omitempty"`
	PIDs        []int               `json:"pids"`
	Runtime     namespaces.Runtime  `json:"runtime,omitempty"`
	ContainerID string              `json:"container_id,omitempty"`
	PodUID      string              `json:"pod_uid,omitempty"`
	QoSClass    namespaces.QoSClass `json:"qos_class,omitempty"`
}

func newNetNSRef(ns *namespaces.Namespace) *netnsRef {
	r := &netnsRef{Label: ns.Label(), Inode: ns.Inode, Name: ns.Name, Path: ns.Path, Initial: ns.Initial, PIDs: []int{},
		Runtime: ns.Runtime, ContainerID: ns.ContainerID, PodUID: ns.PodUID, QoSClass: ns.QoSClass}
	for _, p := range ns.Processes {
		r.PIDs = append(r.PIDs, p.PID)
	}
	if ns.Initial {
		r.Label = "host"
	}
	return r
}

// netnsColumn names a namespace in a table's NETNS column: its name, the
// pod or container it belongs to, "host" for the machine's own, else its
// inode as the kernel writes it.
func netnsColumn(ns *namespaces.Namespace) string {
	short := func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	}
	switch {
	case ns.Name != "":
		return ns.Name
	case ns.Initial:
		return "host"
	case ns.PodUID != "":
		return "pod:" + short(ns.PodUID, 8)
	case ns.ContainerID != "":
		rt := string(ns.Runtime)
		if rt == "" {
			rt = "container"
		}
		return rt + ":" + short(ns.ContainerID, 12)
	}
	return fmt.Sprintf("netns:[%d]", ns.Inode)
}

// netnsSpec is what --netns takes to reach the namespace again, for the
// commands a report suggests.
func netnsSpec(ns *namespaces.Namespace) string {
	if ns.Initial {
		return ""
	}
	return ns.Spec()
}

// maxNetNSAtOnce bounds how many namespaces are read at the same time.
const maxNetNSAtOnce = 8

// netnsSkip is a namespace left out of a run, and why.
type netnsSkip struct {
	NetNS *netnsRef `json:"netns"`
	Why   string    `json:"why"`
}

// eachNetNS runs fn for every namespace, atOnce at a time, each with its
// own client, and returns the results in the order of targets. A namespace
// that vanished meanwhile is skipped, not an error; so is one that fails to
// open for any other reason than a missing privilege, which ends the run.
func eachNetNS[T any](ctx context.Context, targets []netnsTarget, atOnce int, fn func(ctx context.Context, t *netnsTarget, c neighClient) (T, error)) ([]T, []bool, []netnsSkip, error) {
	results := make([]T, len(targets))
	done := make([]bool, len(targets))
	errs := make([]error, len(targets))
	sem := make(chan struct{}, max(atOnce, 1))
	var wg sync.WaitGroup
	for i := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			c, err := targets[i].open()
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			results[i], errs[i] = fn(ctx, &targets[i], c)
			done[i] = errs[i] == nil
		})
	}
	wg.Wait()
	var skipped []netnsSkip
	for i, err := range errs {
		if err == nil {
			continue
		}
		var pe *neigh.PrivilegeError
		switch {
		case errors.As(err, &pe), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return nil, nil, nil, err
		}
		why := words.OneLine(err.Error())
		if errors.Is(err, namespaces.ErrGone) {
			why = "gone while being read"
		}
		skipped = append(skipped, netnsSkip{NetNS: newNetNSRef(&targets[i].ns), Why: why})
	}
	return results, done, skipped, nil
}
