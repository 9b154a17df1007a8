// Command baseline is the load harness's point of comparison: a plain
// reverse proxy (net/http/httputil.ReverseProxy) with no authentication,
// no policy and no audit, in front of the same upstream as gatehouse. The
// difference between the two is what gatehouse's own work costs.
//
// Its Transport keeps up to 1024 idle connections per upstream host: Go's
// default keeps 2, which under a few dozen concurrent clients makes the
// proxy open and close connections all the time and alone halves its
// throughput. With -tls it serves HTTPS with a self-signed ECDSA P-256
// certificate made at start, the key type of gatehouse's development
// gateway, so both are measured behind the same kind of TLS.
//
//	go run ./bench/baseline -listen 127.0.0.1:9572 -upstream http://127.0.0.1:9571
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9572", "host:port to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:9571", "URL of the upstream")
	withTLS := flag.Bool("tls", false, "serve HTTPS with a self-signed certificate")
	flag.Parse()

	target, err := url.Parse(*upstream)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		fmt.Fprintf(os.Stderr, "baseline: -upstream %q: want an http or https URL\n", *upstream)
		os.Exit(2)
	}
	transport := &http.Transport{
		Proxy:                 nil, // never an environment proxy on loopback
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.SetXForwarded()
		},
		Transport: transport,
		ErrorLog:  log.New(os.Stderr, "baseline: ", log.LstdFlags),
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           proxy,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if !*withTLS {
		log.Printf("baseline: proxying http://%s to %s", *listen, target)
		log.Fatal(srv.ListenAndServe())
	}
	cert, err := selfSigned()
	if err != nil {
		log.Fatalf("baseline: certificate: %v", err)
	}
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	log.Printf("baseline: proxying https://%s to %s", *listen, target)
	log.Fatal(srv.ListenAndServeTLS("", ""))
}

// selfSigned makes a certificate for the loopback addresses, valid a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "bench baseline"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
