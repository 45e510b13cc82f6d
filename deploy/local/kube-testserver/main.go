// kube-testserver: Kubernetes' own kube-apiserver (k8s.io/kubernetes) backed by an embedded etcd, in one
// process, for the connector's tests on a machine without Docker or release binaries
// (deploy/local/kubernetes builds and runs it). Its own flags name etcd's data directory and loopback
// URLs; everything after `--` goes to kube-apiserver unchanged, with --etcd-servers added.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	fs := flag.NewFlagSet("kube-testserver", flag.ExitOnError)
	dataDir := fs.String("etcd-data-dir", "", "etcd data directory (required)")
	clientURL := fs.String("etcd-client-url", "http://127.0.0.1:2379", "etcd client URL (loopback)")
	peerURL := fs.String("etcd-peer-url", "http://127.0.0.1:2380", "etcd peer URL (loopback)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: kube-testserver --etcd-data-dir DIR [--etcd-client-url URL] [--etcd-peer-url URL] -- KUBE-APISERVER FLAGS...\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	if *dataDir == "" {
		fs.Usage()
		os.Exit(2)
	}
	config := embed.NewConfig()
	config.Dir = *dataDir
	config.LogLevel = "error"
	client, err := url.Parse(*clientURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kube-testserver:", err)
		os.Exit(2)
	}
	peer, err := url.Parse(*peerURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kube-testserver:", err)
		os.Exit(2)
	}
	config.ListenClientUrls, config.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	config.ListenPeerUrls, config.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	config.InitialCluster = config.Name + "=" + peer.String()
	etcd, err := embed.StartEtcd(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kube-testserver: etcd:", err)
		os.Exit(1)
	}
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "kube-testserver: etcd not ready after 60s")
		os.Exit(1)
	}
	command := app.NewAPIServerCommand()
	command.SetArgs(append([]string{"--etcd-servers=" + client.String()}, fs.Args()...))
	code := cli.Run(command)
	etcd.Close()
	os.Exit(code)
}
