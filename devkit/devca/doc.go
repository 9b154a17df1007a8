// Package devca is a local certificate authority for serving the gatehouse
// development loop over HTTPS, which MSAL and azidentity require.
//
// In: a directory. LoadOrCreate reuses ca.pem and ca-key.pem there, or
// creates them (the key 0600, the directory 0700).
//
// Out: the CA certificate (CertPEM, CertPool: what a client or the system
// trust store should trust) and TLS server configurations whose leaf
// certificates, for the given IP addresses and DNS names, the CA signs.
// Leaf keys are made fresh for each ServerTLSConfig and never written.
//
// Left to the caller: installing the CA in a trust store, and keeping the
// directory private; whoever holds ca-key.pem can mint certificates that a
// machine trusting the CA accepts for any name.
package devca
