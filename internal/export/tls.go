// SPDX-License-Identifier: LGPL-3.0-only

package export

import (
	"crypto/x509"
	"fmt"
	"os"
)

// CAPool reads a PEM CA file for a sink's TLS (the MQTT broker's, the
// remote-write server's). Errors name the file.
func CAPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}
