// Package pki creates the certificates and keys of one sandbox cluster:
// a CA, the API server serving certificate, the API server's client
// certificate for kubelets, a kubelet serving certificate and the
// service-account signing key. Everything is ECDSA P-256 (fast to create).
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files names the PEM files written by Create.
type Files struct {
	CACert, CAKey                         string
	APIServerCert, APIServerKey           string
	KubeletClientCert, KubeletClientKey   string // API server -> kubelet
	KubeletServingCert, KubeletServingKey string
	SAKey, SAPub                          string
}

// Paths returns the file names under dir.
func Paths(dir string) Files {
	j := func(n string) string { return filepath.Join(dir, n) }
	return Files{
		CACert: j("ca.crt"), CAKey: j("ca.key"),
		APIServerCert: j("apiserver.crt"), APIServerKey: j("apiserver.key"),
		KubeletClientCert: j("apiserver-kubelet-client.crt"), KubeletClientKey: j("apiserver-kubelet-client.key"),
		KubeletServingCert: j("kubelet.crt"), KubeletServingKey: j("kubelet.key"),
		SAKey: j("sa.key"), SAPub: j("sa.pub"),
	}
}

type signer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Create writes all files. apiserverIPs are the API server's addresses
// (bridge IPs, first service IPs, 127.0.0.1); nodeIPs go into the kubelet
// serving certificate.
func Create(dir string, apiserverIPs, nodeIPs []string) (Files, error) {
	f := Paths(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, fmt.Errorf("creating %s: %w", dir, err)
	}
	ca, err := newCA()
	if err != nil {
		return f, err
	}
	if err := writeCert(f.CACert, f.CAKey, ca.cert.Raw, ca.key); err != nil {
		return f, err
	}
	dns := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}
	if err := ca.issue(f.APIServerCert, f.APIServerKey, "kube-apiserver", nil, dns, apiserverIPs, x509.ExtKeyUsageServerAuth); err != nil {
		return f, err
	}
	if err := ca.issue(f.KubeletClientCert, f.KubeletClientKey, "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil, x509.ExtKeyUsageClientAuth); err != nil {
		return f, err
	}
	if err := ca.issue(f.KubeletServingCert, f.KubeletServingKey, "netdoctor-sandbox-kubelet", nil, []string{"localhost"}, nodeIPs, x509.ExtKeyUsageServerAuth); err != nil {
		return f, err
	}
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, fmt.Errorf("generating service-account key: %w", err)
	}
	if err := writeKey(f.SAKey, sa); err != nil {
		return f, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return f, fmt.Errorf("encoding service-account public key: %w", err)
	}
	if err := os.WriteFile(f.SAPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return f, fmt.Errorf("writing %s: %w", f.SAPub, err)
	}
	return f, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func newCA() (*signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "netdoctor-sandbox-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &signer{cert: cert, key: key}, nil
}

func (s *signer) issue(certPath, keyPath, cn string, orgs, dns, ips []string, usage x509.ExtKeyUsage) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating key for %s: %w", cn, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
	}
	for _, ip := range ips {
		if p := net.ParseIP(ip); p != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, p)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.cert, &key.PublicKey, s.key)
	if err != nil {
		return fmt.Errorf("creating certificate %s: %w", cn, err)
	}
	return writeCert(certPath, keyPath, der, key)
}

func writeCert(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", certPath, err)
	}
	return writeKey(keyPath, key)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding key %s: %w", path, err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
