// Package namespaces finds every network namespace of a machine, each once,
// and says whose it is: its processes, container runtime and ID, Kubernetes pod.
//
// Namespaces are found where they live: named ones under /run/netns, the
// namespaces of every process under /proc, and the nsfs bind mounts that
// container runtimes keep (under /run/docker/netns, or wherever the mount
// table says). They are told apart by the device and inode of their nsfs
// file, the identity the kernel itself uses. Who owns a namespace is read
// from its processes' cgroup paths (see ParseCgroup), which name the
// container and, on a Kubernetes node, the pod and its QoS class.
//
// Like the rest of arpdoctor's libraries, it returns plain values with JSON
// tags and never prints.
package namespaces
