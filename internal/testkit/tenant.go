package testkit

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

// Distribution tenants (CloudFront SaaS Manager). moto knows none, so the realism proxy
// serves them itself: GetDistributionTenant, CreateInvalidationForDistributionTenant,
// GetInvalidationForDistributionTenant and ListInvalidationsForDistributionTenant, with
// the same caller-reference deduplication, in-progress limits and Completed timing as
// distributions. Tenants are made with CreateTenant (CreateDistributionTenant and the
// other tenant calls are not served). Where it differs from AWS:
//   - the in-progress limits (CloudFrontOptions.MaxInProgressPaths/Wildcards) are counted
//     per tenant; AWS documents the tenant invalidation quota nowhere we could find, and
//     each tenant has its own cache, so a per-tenant count is the natural reading;
//   - an unknown tenant answers 404 EntityNotFound (the code AWS's API model lists for
//     these operations) with our own wording;
//   - the parent distribution is not checked to exist or to be multi-tenant.

// TenantKeyPrefix marks a tenant in the proxy's per-target records: the invalidations
// of tenant ID are ProxyInvalidation values whose DistributionID is TenantKeyPrefix+ID,
// the resource part of the tenant's ARN.
const TenantKeyPrefix = "distribution-tenant/"

// MsgNoSuchTenant is the proxy's EntityNotFound message for an unknown tenant.
const MsgNoSuchTenant = "The specified distribution tenant does not exist."

type proxyTenant struct {
	ID, DistributionID, Name string
	Domains                  []string
	// Parameters fill the multi-tenant distribution's "{{name}}" placeholders.
	Parameters map[string]string
	Created    time.Time
}

var tenantPathRE = regexp.MustCompile(`^/2020-05-31/distribution-tenant/([^/]+)(/invalidation(?:/([^/]+))?)?/?$`)

// classifyTenant recognises the tenant calls the proxy serves; dist is then
// TenantKeyPrefix+tenant id.
func classifyTenant(r *http.Request) (op Op, dist, id string, ok bool) {
	m := tenantPathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return "", "", "", false
	}
	dist = TenantKeyPrefix + m[1]
	switch {
	case m[2] == "" && r.Method == http.MethodGet:
		return OpOther, dist, "", true
	case m[2] != "" && m[3] == "" && r.Method == http.MethodPost:
		return OpCreateInvalidation, dist, "", true
	case m[3] != "" && r.Method == http.MethodGet:
		return OpGetInvalidation, dist, m[3], true
	case m[2] != "" && m[3] == "" && r.Method == http.MethodGet:
		return OpListInvalidations, dist, "", true
	}
	return "", "", "", false
}

// CreateTenant registers a distribution tenant of distributionID serving domains and
// returns its id ("dt_" and 27 letters and digits, the shape of AWS's ids).
func (c *CloudFront) CreateTenant(distributionID, name string, domains ...string) string {
	id := "dt_" + randomID(27)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tenants == nil {
		c.tenants = map[string]*proxyTenant{}
	}
	c.tenants[id] = &proxyTenant{ID: id, DistributionID: distributionID, Name: name, Domains: slices.Clone(domains), Created: time.Now()}
	return id
}

// SetTenantParameters sets a tenant's parameters (name -> value), which CloudFront puts
// into the "{{name}}" placeholders of its multi-tenant distribution (an origin's domain
// or origin path, typically); GetDistributionTenant returns them.
func (c *CloudFront) SetTenantParameters(tenantID string, params map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tenants[tenantID]; ok {
		t.Parameters = maps.Clone(params)
	}
}

// TenantInvalidations returns copies of the invalidations created through the proxy for
// tenant tenantID, in creation order.
func (c *CloudFront) TenantInvalidations(tenantID string) []ProxyInvalidation {
	return c.Invalidations(TenantKeyPrefix + tenantID)
}

// EdgeTenantInvalidations is EdgeInvalidations for a tenant: pass
// func(string) []edge.Invalidation { return c.EdgeTenantInvalidations(id) } to an edge
// emulator that stands for the tenant's domain (each tenant has its own cache).
func (c *CloudFront) EdgeTenantInvalidations(tenantID string) []edge.Invalidation {
	return c.EdgeInvalidations(TenantKeyPrefix + tenantID)
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

func (c *CloudFront) serveTenant(w http.ResponseWriter, r *http.Request, op Op, tenantID, invID string) {
	c.mu.Lock()
	t, ok := c.tenants[tenantID]
	var tc proxyTenant
	if ok {
		tc = *t
	}
	c.mu.Unlock()
	if !ok {
		WriteCloudFrontError(w, http.StatusNotFound, "Sender", "EntityNotFound", MsgNoSuchTenant)
		return
	}
	key := TenantKeyPrefix + tenantID
	switch op {
	case OpCreateInvalidation:
		c.createForTenant(w, r, key)
	case OpGetInvalidation:
		c.mu.Lock()
		p, found := c.lookup(key, invID)
		var body []byte
		if found {
			body = renderInvalidation(p, time.Now())
		}
		c.mu.Unlock()
		if !found {
			WriteCloudFrontError(w, http.StatusNotFound, "Sender", "NoSuchInvalidation", "The specified invalidation does not exist.")
			return
		}
		writeXML(w, http.StatusOK, body)
	case OpListInvalidations:
		c.listForTenant(w, r, key)
	default:
		w.Header().Set("ETag", "E"+randomID(12))
		writeXML(w, http.StatusOK, renderTenant(tc))
	}
}

func (c *CloudFront) createForTenant(w http.ResponseWriter, r *http.Request, key string) {
	batch, _, ok := readBatch(w, r)
	if !ok {
		return
	}
	c.createMu.Lock()
	defer c.createMu.Unlock()
	now := time.Now()
	location := c.URL + "/2020-05-31/" + key + "/invalidation"
	after, done := c.admit(w, key, location, batch, now)
	if done {
		return
	}
	snapshot := c.record(key, "I"+randomID(13), batch, now, after)
	w.Header().Set("Location", location+"/"+snapshot.ID)
	writeXML(w, http.StatusCreated, renderInvalidation(&snapshot, time.Now()))
}

// listForTenant answers newest first with Marker/MaxItems paging, like ListInvalidations.
func (c *CloudFront) listForTenant(w http.ResponseWriter, r *http.Request, key string) {
	marker, maxItems := listQuery(r)
	now := time.Now()
	c.mu.Lock()
	all := slices.Clone(c.invs[key])
	items := make([]invalidationSummary, 0, len(all))
	for i := len(all) - 1; i >= 0; i-- {
		p := all[i]
		items = append(items, invalidationSummary{p.ID, p.Created.UTC().Format(time.RFC3339Nano), statusAt(p, now)})
	}
	c.mu.Unlock()
	writeXML(w, http.StatusOK, renderInvalidationList(items, marker, maxItems))
}

func renderTenant(t proxyTenant) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<DistributionTenant xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>` + t.ID + `</Id><DistributionId>`)
	xml.EscapeText(&b, []byte(t.DistributionID))
	b.WriteString(`</DistributionId><Name>`)
	xml.EscapeText(&b, []byte(t.Name))
	b.WriteString(`</Name><Arn>arn:aws:cloudfront::123456789012:distribution-tenant/` + t.ID + `</Arn><Domains>`)
	for _, d := range t.Domains {
		b.WriteString(`<member><Domain>`)
		xml.EscapeText(&b, []byte(d))
		b.WriteString(`</Domain><Status>active</Status></member>`)
	}
	b.WriteString(`</Domains>`)
	if len(t.Parameters) > 0 {
		b.WriteString(`<Parameters>`)
		for _, k := range slices.Sorted(maps.Keys(t.Parameters)) {
			b.WriteString(`<member><Name>`)
			xml.EscapeText(&b, []byte(k))
			b.WriteString(`</Name><Value>`)
			xml.EscapeText(&b, []byte(t.Parameters[k]))
			b.WriteString(`</Value></member>`)
		}
		b.WriteString(`</Parameters>`)
	}
	b.WriteString(`<Enabled>true</Enabled><Status>Deployed</Status><CreatedTime>` + t.Created.UTC().Format(time.RFC3339) +
		`</CreatedTime><LastModifiedTime>` + t.Created.UTC().Format(time.RFC3339) + `</LastModifiedTime></DistributionTenant>`)
	return b.Bytes()
}

func writeXML(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
