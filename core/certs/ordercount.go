package certs

import (
	"context"
	"strings"

	"golang.org/x/crypto/acme/autocert"
)

// orderCountingCache is autocert's cache with one addition: a certificate
// written to it was just issued by the ACME server (autocert stores a
// certificate right after an order completes, and never for one it read
// back), so each such Put is an issued order. The account key, also
// stored here, is not a certificate.
type orderCountingCache struct {
	autocert.Cache
	issued func()
}

// accountKeyName is the cache entry that holds autocert's ACME account
// key (autocert's own constant is unexported).
const accountKeyName = "acme_account+key"

func (c *orderCountingCache) Put(ctx context.Context, name string, data []byte) error {
	err := c.Cache.Put(ctx, name, data)
	if err == nil && name != accountKeyName && !strings.HasSuffix(name, "+token") && !strings.HasSuffix(name, "+http-01") {
		c.issued()
	}
	return err
}
