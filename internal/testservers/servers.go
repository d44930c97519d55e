// SPDX-License-Identifier: LGPL-3.0-only

// Package testservers starts the real servers the export tests run
// against, on loopback ports: Mosquitto (Debian package mosquitto) and
// Prometheus with its remote-write receiver on (Debian package prometheus).
// A test skips, saying which package to install, where one is missing.
package testservers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Need skips t unless the program is installed.
func Need(t testing.TB, prog, pkg string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/"} {
		if p, err := exec.LookPath(dir + prog); err == nil {
			return p
		}
	}
	t.Skipf("%s is not installed (Debian package %s; .ci/run installs it): skipping the test against a real %s", prog, pkg, prog)
	return ""
}

// FreePort returns a loopback TCP port nobody listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Server is a started server process that can be stopped and started again
// on the same port.
type Server struct {
	t    testing.TB
	name string
	args []string
	Port int
	Dir  string
	log  *os.File
	cmd  *exec.Cmd
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.name, err)
	}
	s.cmd = cmd
}

// Start starts it again after Stop, on the same port, and waits until it
// listens.
func (s *Server) Start() {
	s.t.Helper()
	s.start()
	s.waitListening()
}

// Stop stops it (SIGTERM, then SIGKILL) and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log.Name())
	return string(b)
}

func (s *Server) waitListening() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("%s does not listen on port %d; its log:\n%s", s.name, s.Port, s.Log())
}

func newServer(t testing.TB, name string) *Server {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, name: name, Port: FreePort(t), Dir: dir, log: log}
	t.Cleanup(func() {
		s.Stop()
		log.Close()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, s.Log())
		}
	})
	return s
}

// MosquittoOptions configure a broker.
type MosquittoOptions struct {
	Users map[string]string // user -> password; none: anonymous allowed
	TLS   *PKI              // serve TLS with this PKI's server certificate, requiring a client certificate
	// Persist keeps sessions (and the messages queued for them) across a
	// restart, as a production broker does.
	Persist bool
}

// Mosquitto starts a broker on a loopback port.
func Mosquitto(t testing.TB, o MosquittoOptions) *Server {
	t.Helper()
	bin := Need(t, "mosquitto", "mosquitto")
	s := newServer(t, "mosquitto")
	conf := []string{fmt.Sprintf("listener %d 127.0.0.1", s.Port), "persistence false"}
	if o.Persist {
		conf[1] = "persistence true"
		conf = append(conf, "persistence_location "+s.Dir+"/", "autosave_interval 1")
	}
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		conf = append(conf, "user root") // keep access to the test's files
	}
	if len(o.Users) == 0 {
		conf = append(conf, "allow_anonymous true")
	} else {
		pw := filepath.Join(s.Dir, "passwd")
		for u, p := range o.Users {
			args := []string{"-b", pw, u, p}
			if _, err := os.Stat(pw); err != nil {
				args = append([]string{"-c"}, args...)
			}
			if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd: %v: %s", err, out)
			}
		}
		conf = append(conf, "allow_anonymous false", "password_file "+pw)
	}
	if o.TLS != nil {
		conf = append(conf, "cafile "+o.TLS.CA, "certfile "+o.TLS.ServerCert, "keyfile "+o.TLS.ServerKey, "require_certificate true")
	}
	cf := filepath.Join(s.Dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.args = []string{bin, "-c", cf}
	s.Start()
	return s
}

// Prometheus starts a Prometheus with the remote-write receiver on, and
// scraping the given targets (host:port) every second.
func Prometheus(t testing.TB, scrape ...string) *Prom {
	t.Helper()
	bin := Need(t, "prometheus", "prometheus")
	s := newServer(t, "prometheus")
	conf := "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
	if len(scrape) > 0 {
		conf += "scrape_configs:\n  - job_name: power-monitor\n    static_configs:\n      - targets: ['" + strings.Join(scrape, "','") + "']\n"
	}
	cf := filepath.Join(s.Dir, "prometheus.yml")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s.args = []string{bin, "--config.file=" + cf, "--storage.tsdb.path=" + filepath.Join(s.Dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(s.Port), "--web.enable-remote-write-receiver"}
	s.Start()
	p := &Prom{Server: s, URL: "http://127.0.0.1:" + strconv.Itoa(s.Port)}
	p.waitReady()
	return p
}

// Prom is a started Prometheus.
type Prom struct {
	*Server
	URL string
}

// WriteURL is its remote-write receiver.
func (p *Prom) WriteURL() string { return p.URL + "/api/v1/write" }

// Start starts it again and waits until it is ready.
func (p *Prom) Start() {
	p.Server.Start()
	p.waitReady()
}

func (p *Prom) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("prometheus not ready; its log:\n%s", p.Log())
}

// Sample is one series' value in a query answer.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query evaluates an instant query now.
func (p *Prom) Query(expr string) ([]Sample, error) {
	resp, err := http.Get(p.URL + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", expr, out.Error)
	}
	var res []Sample
	for _, r := range out.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v", expr, r.Value[1])
		}
		res = append(res, Sample{Labels: r.Metric, Value: v})
	}
	return res, nil
}

// PKI is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, all PEM files in one directory.
type PKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	// OtherCA is a CA that signed nothing here: a client trusting it must
	// refuse the server.
	OtherCA string
}

// NewPKI makes the CA and certificates.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	mkCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
		serial++
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, k, der
	}
	ca, caKey, caDER := mkCA("power-monitor test CA")
	_, _, otherDER := mkCA("another CA")
	leaf := func(name string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, []byte) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, DNSNames: []string{"localhost"}}
		serial++
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der, kd
	}
	sc, sk := leaf("127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	cc, ck := leaf("power-monitor client", x509.ExtKeyUsageClientAuth, nil)
	return &PKI{
		CA:         write("ca.pem", "CERTIFICATE", caDER),
		OtherCA:    write("other-ca.pem", "CERTIFICATE", otherDER),
		ServerCert: write("server.pem", "CERTIFICATE", sc),
		ServerKey:  write("server.key", "EC PRIVATE KEY", sk),
		ClientCert: write("client.pem", "CERTIFICATE", cc),
		ClientKey:  write("client.key", "EC PRIVATE KEY", ck),
	}
}
