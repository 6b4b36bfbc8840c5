// Command latencyproxy forwards HTTP requests to an upstream (moto) after a fixed delay,
// so that benchmarks see the per-request latency of a real S3 endpoint (tens of
// milliseconds) instead of loopback's microseconds: that is where concurrency shows.
//
//	go run ./bench/deploy/latencyproxy -listen 127.0.0.1:5001 -upstream http://127.0.0.1:5000 -delay 20ms
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := flag.String("upstream", "", "upstream base URL (moto)")
	delay := flag.Duration("delay", 20*time.Millisecond, "added to every request")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		log.Fatalf("latencyproxy: bad -upstream %q", *upstream)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// Keep the Host header of the client: SigV4 signs it, and moto does not check it.
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(*delay)
		rp.ServeHTTP(w, r)
	})
	log.Printf("latencyproxy: %s -> %s (+%s)", *listen, u, *delay)
	log.Fatal(http.ListenAndServe(*listen, h))
}
